"""The upscale job end to end through the real S3 server, Redis and RQ."""


import logging
import threading
import time

import httpx
import pytest
import torch
from rq import Queue, Retry
from rq.job import Job

from services.core import jobqueue, keys
from services.core.capacity import fleet_capacity
from services.core.jobqueue import PACKAGE_QUEUE, UPSCALE_QUEUE, enqueue_upscale
from services.core.schemas import ClipState, Enhancement, Size, Tier
from services.core.settings import get_settings
from services.core.stream_transitions import end_stream
from services.core.streams import StreamStore
from services.packager.jobs import package_clip
from services.worker import jobs
from services.worker.upscaler import Upscaler, load_upscaler
from tests.api_client import auth
from tests.conftest import run_queues
from tests.media import drawn_on_twos, write_clip
from tests.stream_checks import assert_complete_playlist, object_keys
from tests.worker_clips import head, registered_clip


def package_job_ids(redis) -> list[str]:
    return Queue(PACKAGE_QUEUE, connection=redis).job_ids


def test_clip_is_upscaled_by_the_model_stored_and_handed_to_packaging(settings, redis, tmp_path):
    clip_file = tmp_path / "rec.webm"
    frames = write_clip(clip_file, seconds=1, width=64, height=36, fps=15)
    store, stream_id = registered_clip(settings, redis, tmp_path, clip_file)

    run_queues(redis, UPSCALE_QUEUE)

    clip = store.get_clip(stream_id, 0)
    assert clip.state == ClipState.encoded
    assert (clip.width, clip.height, clip.frames_done, clip.frames_total) == (128, 72, frames, frames)
    assert clip.duration == pytest.approx(frames / 15, abs=1 / 15)
    assert not clip.degraded
    assert clip.timings["model"] > 0
    assert head(settings, keys.output_part_key(stream_id, 0, 0))["size"] > 0  # 1 s: one part
    assert [part.n for part in store.get_parts(stream_id, 0)] == [0]
    # The part went to packaging as soon as it was out, the whole clip after it.
    assert package_job_ids(redis) == [f"package-{stream_id}-0-0", f"package-{stream_id}-0"]
    job = Job.fetch(f"upscale-{stream_id}-0", connection=redis)
    assert job.get_meta()["progress"] == {"frames_done": frames, "frames_total": frames}


def test_skipped_frames_show_on_the_clip_and_in_the_fleet_metrics(settings, redis, tmp_path, api):
    clip_file = tmp_path / "anim.webm"
    frames = write_clip(clip_file, seconds=1, width=64, height=36, fps=12, draw=drawn_on_twos)
    store, stream_id = registered_clip(settings, redis, tmp_path, clip_file)

    run_queues(redis, UPSCALE_QUEUE)

    clip = store.get_clip(stream_id, 0)
    assert 0 < clip.frames_skipped <= frames // 2
    metrics = api.get("/metrics").text
    assert f'sharpr_worker_frames_total{{outcome="skipped"}} {clip.frames_skipped}.0' in metrics
    assert f'sharpr_worker_frames_total{{outcome="model"}} {frames - clip.frames_skipped}.0' in metrics


def test_each_part_is_published_as_soon_as_it_is_encoded(settings, redis, tmp_path):
    clip_file = tmp_path / "rec.webm"
    write_clip(clip_file, seconds=6, width=64, height=36, fps=15)
    store, stream_id = registered_clip(settings, redis, tmp_path, clip_file)

    run_queues(redis, UPSCALE_QUEUE)

    clip, parts = store.get_clip(stream_id, 0), store.get_parts(stream_id, 0)
    assert [part.n for part in parts] == [0, 1, 2] and clip.parts_done == 3
    assert [part.start for part in parts] == pytest.approx([0.0, 2.0, 4.0], abs=1e-3)
    # Part 0 was out while the rest of the clip was still in the model and the encoder.
    published = [part.published_at for part in parts]
    assert published == sorted(published) and published[-1] < clip.timings["encoded_at"]
    assert published[0] < published[-1]
    assert package_job_ids(redis) == [
        f"package-{stream_id}-0-0", f"package-{stream_id}-0-1", f"package-{stream_id}-0-2", f"package-{stream_id}-0",
    ]


class BreaksOnceAPartIsOut:
    """The real model, until the clip's first part is published; then every call fails, as
    a GPU that falls off the bus would."""

    def __init__(self, inner: Upscaler, store: StreamStore, stream_id: str) -> None:
        self.inner, self.store, self.stream_id = inner, store, stream_id
        self.scale, self.name = inner.scale, inner.name

    def upscale(self, frames):
        if self.store.part_counts(self.stream_id, [0])[0]:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return self.inner.upscale(frames)


def test_a_model_failing_midway_keeps_the_enhanced_parts_and_resizes_the_rest(settings, redis, tmp_path, monkeypatch):
    clip_file = tmp_path / "rec.webm"
    write_clip(clip_file, seconds=6, width=64, height=36, fps=15)
    store, stream_id = registered_clip(settings, redis, tmp_path, clip_file)
    model = load_upscaler(Enhancement(scale=2), settings)
    monkeypatch.setattr(jobs, "load_upscaler", lambda *_: BreaksOnceAPartIsOut(model, store, stream_id))

    run_queues(redis, UPSCALE_QUEUE)

    clip, parts = store.get_clip(stream_id, 0), store.get_parts(stream_id, 0)
    assert (clip.state, clip.degraded) == (ClipState.encoded, True)
    assert [part.n for part in parts] == [0, 1, 2]
    assert parts[0].enhanced and not parts[-1].enhanced

    end_stream(store, settings, store.get_stream(stream_id))
    run_queues(redis, PACKAGE_QUEUE)
    assert_complete_playlist(settings, stream_id, {0: 6.0}, fps=15)


def test_running_a_finished_clip_again_only_requeues_packaging(settings, redis, tmp_path):
    clip_file = tmp_path / "rec.webm"
    write_clip(clip_file, seconds=1, fps=15)
    store, stream_id = registered_clip(settings, redis, tmp_path, clip_file)
    run_queues(redis, UPSCALE_QUEUE)
    Queue(PACKAGE_QUEUE, connection=redis).empty()
    encoded = store.get_clip(stream_id, 0)

    enqueue_upscale(redis, settings, stream_id, 0)
    run_queues(redis, UPSCALE_QUEUE)

    again = store.get_clip(stream_id, 0)
    assert again.state == ClipState.encoded and again.timings == encoded.timings
    assert package_job_ids(redis) == [f"package-{stream_id}-0"]


def test_bad_clip_fails_with_a_code_and_the_stream_still_packages(settings, redis, tmp_path):
    junk = tmp_path / "junk.webm"
    junk.write_bytes(b"this is not a video at all" * 10)
    store, stream_id = registered_clip(settings, redis, tmp_path, junk)

    run_queues(redis, UPSCALE_QUEUE)

    clip = store.get_clip(stream_id, 0)
    assert (clip.state, clip.error_code) == (ClipState.failed, "bad_media")
    assert clip.error
    assert Job.fetch(f"upscale-{stream_id}-0", connection=redis).get_status() == "finished"  # no retry
    assert package_job_ids(redis) == [f"package-{stream_id}-0"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="TensorRT may really load where CUDA exists")
def test_model_that_cannot_load_falls_back_to_resize_and_marks_clip_degraded(settings, redis, tmp_path, monkeypatch):
    monkeypatch.setenv("SHARPR_BACKEND", "tensorrt")  # no CUDA here: the model load fails for real
    get_settings.cache_clear()
    clip_file = tmp_path / "rec.webm"
    frames = write_clip(clip_file, seconds=1, fps=15)
    store, stream_id = registered_clip(settings, redis, tmp_path, clip_file)

    run_queues(redis, UPSCALE_QUEUE)

    clip = store.get_clip(stream_id, 0)
    assert (clip.state, clip.degraded, clip.frames_done) == (ClipState.encoded, True, frames)
    assert head(settings, keys.output_part_key(stream_id, 0, 0)) is not None
    assert [part.enhanced for part in store.get_parts(stream_id, 0)] == [False]


def test_failed_attempt_with_retries_left_leaves_the_clip_for_the_retry(settings, redis, tmp_path):
    store, stream_id = registered_clip(settings, redis, tmp_path, None)  # input never uploaded

    run_queues(redis, UPSCALE_QUEUE)

    assert store.get_clip(stream_id, 0).state == ClipState.upscaling
    assert Job.fetch(f"upscale-{stream_id}-0", connection=redis).get_status() == "scheduled"
    assert package_job_ids(redis) == []


def test_upscale_failing_on_every_retry_publishes_the_clip_unenhanced_and_degraded(
    settings, redis, tmp_path, monkeypatch,
):
    """An infrastructure failure that outlasts every retry: the clip's seconds still play."""
    monkeypatch.setattr(jobqueue, "RETRY", Retry(max=1, interval=0))  # retries at once, not in 10 s
    real_upscale = jobs._upscale

    def upscale_failing_with_the_model(*args, use_model: bool):
        if use_model:
            raise ConnectionResetError("connection reset by peer")
        return real_upscale(*args, use_model=use_model)

    monkeypatch.setattr(jobs, "_upscale", upscale_failing_with_the_model)
    clip_file = tmp_path / "rec.webm"
    frames = write_clip(clip_file, seconds=2, width=64, height=36, fps=15)
    store, stream_id = registered_clip(settings, redis, tmp_path, clip_file)

    run_queues(redis, UPSCALE_QUEUE)

    clip = store.get_clip(stream_id, 0)
    assert (clip.state, clip.degraded, clip.frames_done) == (ClipState.encoded, True, frames)
    assert (clip.width, clip.height) == (128, 72)
    assert clip.error_code == "upscale_failed" and "connection reset" in clip.error
    assert Job.fetch(f"upscale-{stream_id}-0", connection=redis).get_status() == "failed"
    end_stream(store, settings, store.get_stream(stream_id))
    run_queues(redis, PACKAGE_QUEUE)
    assert_complete_playlist(settings, stream_id, {0: 2.0}, 15)
    assert store.get_clip(stream_id, 0).state == ClipState.packaged


def test_a_job_timeout_in_the_model_ends_the_attempt_and_is_not_taken_for_a_model_failure(
    settings, redis, tmp_path, monkeypatch,
):
    """RQ's timeout fires while the teacher runs: the attempt ends there (a retry, then the
    unenhanced fallback under a timeout of its own), no resize starts inside the timed-out
    attempt, and the clip's seconds still play."""
    monkeypatch.setattr(jobqueue, "RETRY", Retry(max=1, interval=0))
    clip_file = tmp_path / "rec.webm"
    frames = write_clip(clip_file, seconds=3, width=320, height=180, fps=15)  # ~8 s of model here
    short = settings.model_copy(update={"job_timeout_seconds": 1})
    store, stream_id = registered_clip(short, redis, tmp_path, clip_file)

    run_queues(redis, UPSCALE_QUEUE)

    assert Job.fetch(f"upscale-{stream_id}-0", connection=redis).get_status() == "failed"
    clip = store.get_clip(stream_id, 0)
    assert clip.error_code == "upscale_failed" and "JobTimeoutException" in clip.error
    assert (clip.state, clip.degraded, clip.frames_done) == (ClipState.encoded, True, frames)


def test_when_even_the_unenhanced_fallback_fails_the_clip_fails_and_the_stream_packages(
    settings, redis, tmp_path, monkeypatch,
):
    monkeypatch.setattr(jobqueue, "RETRY", Retry(max=1, interval=0))
    store, stream_id = registered_clip(settings, redis, tmp_path, None)  # input never uploaded

    run_queues(redis, UPSCALE_QUEUE)

    clip = store.get_clip(stream_id, 0)
    assert (clip.state, clip.error_code) == (ClipState.failed, "upscale_failed")
    assert "NoSuchKey" in clip.error
    assert Job.fetch(f"unenhanced-{stream_id}-0", connection=redis).get_status() == "failed"
    assert package_job_ids(redis) == [f"package-{stream_id}-0"]


def test_a_later_smaller_clip_comes_out_at_the_size_the_first_clip_fixed(settings, redis, tmp_path):
    first, second = tmp_path / "first.webm", tmp_path / "second.webm"
    write_clip(first, seconds=0.5, width=64, height=36, fps=10)
    write_clip(second, seconds=0.5, width=32, height=18, fps=10)
    store, stream_id = registered_clip(settings, redis, tmp_path, first)
    run_queues(redis, UPSCALE_QUEUE)
    registered_clip(settings, redis, tmp_path, second, seq=1, stream_id=stream_id)
    run_queues(redis, UPSCALE_QUEUE)

    assert store.get_output(stream_id) == Size(width=128, height=72)
    assert [(c.width, c.height, c.degraded) for c in store.get_clips(stream_id)] == [(128, 72, False)] * 2


def test_a_clip_captured_other_than_announced_comes_out_at_the_announced_output(settings, redis, tmp_path):
    store = StreamStore(redis, settings.stream_ttl_seconds)
    stream, _ = store.create_stream(Enhancement(scale=2), output=Size(width=96, height=54))
    clip_file = tmp_path / "rec.webm"
    write_clip(clip_file, seconds=0.5, width=64, height=36, fps=10)
    registered_clip(settings, redis, tmp_path, clip_file, stream_id=stream.id)

    run_queues(redis, UPSCALE_QUEUE)

    clip = store.get_clip(stream.id, 0)
    assert (clip.state, clip.width, clip.height) == (ClipState.encoded, 96, 54)
    assert store.get_output(stream.id) == Size(width=96, height=54)  # the first clip changed nothing


def test_a_1440p_clip_is_enhanced_at_the_pixel_limit_times_the_scale(settings, redis, tmp_path):
    clip_file = tmp_path / "screen.mp4"
    frames = write_clip(clip_file, seconds=0.5, width=2560, height=1440, fps=2)  # one frame
    store, stream_id = registered_clip(settings, redis, tmp_path, clip_file)

    run_queues(redis, UPSCALE_QUEUE)

    clip = store.get_clip(stream_id, 0)
    assert (clip.state, clip.error_code, clip.degraded) == (ClipState.encoded, None, False)
    assert (clip.width, clip.height, clip.frames_done) == (3840, 2160, frames)  # 1920x1080 x2
    assert store.get_output(stream_id) == Size(width=3840, height=2160)


def test_a_clip_runs_at_the_tier_its_client_chose_and_is_measured_under_it(settings, redis, tmp_path):
    clip_file = tmp_path / "rec.webm"
    write_clip(clip_file, seconds=1, width=64, height=36, fps=15)
    store, stream_id = registered_clip(settings, redis, tmp_path, clip_file, tier=Tier.fast)
    assert store.get_clip(stream_id, 0).tier == Tier.fast  # as asked, until it runs

    run_queues(redis, UPSCALE_QUEUE)

    clip = store.get_clip(stream_id, 0)
    assert (clip.state, clip.tier, clip.degraded) == (ClipState.encoded, Tier.fast, False)
    [rate] = fleet_capacity(redis, settings.capacity_stale_seconds)
    assert (rate.mode, rate.tier, rate.scale) == ("anime", "fast", 2)


def test_each_upscaled_clip_records_the_worker_throughput_the_api_serves(settings, redis, tmp_path):
    clip_file = tmp_path / "rec.webm"
    frames = write_clip(clip_file, seconds=1, width=64, height=36, fps=15)
    store, stream_id = registered_clip(settings, redis, tmp_path, clip_file)

    run_queues(redis, UPSCALE_QUEUE)

    [rate] = fleet_capacity(redis, settings.capacity_stale_seconds)
    wall = store.get_clip(stream_id, 0).timings["wall"]
    assert (rate.mode, rate.tier, rate.scale, rate.workers) == ("anime", "quality", 2, 1)
    assert rate.input_pixels_per_second == pytest.approx(frames * 64 * 36 / wall, rel=0.01)


def test_a_stream_deleted_mid_clip_stays_deleted(settings, redis, tmp_path, api, caplog):
    """DELETE while the worker is in the clip's model and a part is already public: the
    worker stops at its next part, the packager triggers it queued publish nothing, and what
    either wrote after the delete is removed again. Before, the worker went on, the packager
    wrote the record and the playlist back, and the deleted stream played again."""
    stream = api.post("/v1/streams", json={}).json()
    clip_file = tmp_path / "rec.webm"
    write_clip(clip_file, seconds=8, width=160, height=90, fps=15)  # four parts, a second or two each
    store, stream_id = registered_clip(settings, redis, tmp_path, clip_file, stream_id=stream["id"])
    playlist_url = f"{settings.s3_browser_url}/{keys.playlist_key(stream_id)}"
    seen = {}

    def delete_once_a_part_is_public() -> None:
        deadline = time.monotonic() + 60
        while store.part_counts(stream_id, [0])[0] < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        package_clip(stream_id, 0)  # as the packager does with the part's trigger
        seen["public"] = httpx.get(playlist_url).status_code
        seen["deleted"] = api.delete(f"/v1/streams/{stream_id}", headers=auth(stream["token"])).status_code

    deleter = threading.Thread(target=delete_once_a_part_is_public)
    deleter.start()
    with caplog.at_level(logging.INFO, logger="services.worker.jobs"):
        run_queues(redis, UPSCALE_QUEUE)  # RQ's worker wants the main thread
    deleter.join(60)
    run_queues(redis, PACKAGE_QUEUE)  # what the parts published meanwhile triggered

    assert seen == {"public": 200, "deleted": 204}
    assert "event=clip_stopped" in caplog.text and "reason=deleted" in caplog.text  # mid-clip, at its next part
    assert httpx.get(playlist_url).status_code in (403, 404)
    assert object_keys(settings, keys.stream_prefix(stream_id)) == []
    assert redis.keys(f"sharpr:stream:{stream_id}*") == []
    assert Job.fetch(f"upscale-{stream_id}-0", connection=redis).get_status() == "finished"  # no retry

