"""The RQ jobs on queue "upscale": one clip from S3, through the model, back to S3.

Each segment's worth of the clip (a part) is stored, recorded and handed to packaging the
moment it is encoded, so the player gets the clip's first seconds while the rest is still
in the model. Parts once published stay: a retry, or the plain resize that takes over when
the model fails midway, only adds the parts after them.

`upscale_clip` is safe to run twice (a finished clip only re-triggers packaging). Bad media
fails the clip at once and never retries; anything else (S3 down) raises so RQ retries.
Once the retries are spent, `upscale_failed` - the job's on_failure callback - queues
`publish_unenhanced`, which publishes the clip scaled without the model and marked
degraded, so no recorded second is lost; only if that fails for good too is the clip
failed (the packager skips it and the playlist goes on). A clip the model cannot process
is degraded the same way within its first job.

Every clip is written at its stream's output size (fixed at creation, or by the first
clip upscaled), and the model's throughput is recorded for the fleet's capacity.
`warm_model` runs the model once at a stream's announced frame size before its first clip.
"""

import asyncio
import logging
import tempfile
import threading
import time
import traceback
from pathlib import Path
from types import TracebackType

import av
import numpy as np
from redis import Redis
from redis.exceptions import RedisError
from rq import get_current_job
from rq.job import Job
from rq.timeouts import BaseTimeoutException

from services.core import capacity
from services.core.clip_transitions import (
    fail_clip,
    mark_encoded,
    mark_upscaling,
    record_clip_error,
    record_progress,
)
from services.core.errors import BadMedia, SharprError, media_error, without_server_details
from services.core.frame_counts import add_frame_counts
from services.core.jobqueue import enqueue_package, enqueue_unenhanced, redis_client
from services.core.retention import StreamDeleted, remove_leftovers
from services.core.schemas import Clip, ClipState, Enhancement, Mode, Size, Tier
from services.core.settings import Settings, get_settings
from services.core.storage import ObjectReplaced, open_store
from services.core.streams import StreamStore
from services.core.tiers import allowed_tiers
from services.worker.part_publisher import PartNotPublished, PartPublisher
from services.worker.pipeline import OutputSize, ProgressCallback, TranscodeResult, transcode
from services.worker.upscaler import ResizeUpscaler, clip_enhancement, load_upscaler

log = logging.getLogger(__name__)

PROGRESS_MIN_INTERVAL = 0.5  # seconds between progress writes to Redis
# (mode, tier, scale, width, height) this process has run the model at; a warm job for one
# of them has nothing left to do.
_warmed: set[tuple[str, str, int, int, int]] = set()
_warming = threading.Lock()


def upscale_clip(stream_id: str, seq: int) -> None:
    _encode_clip(stream_id, seq, use_model=True)


def publish_unenhanced(stream_id: str, seq: int) -> None:
    """The last resort for a clip whose upscale failed on every retry: the plain resize."""
    _encode_clip(stream_id, seq, use_model=False)


def _encode_clip(stream_id: str, seq: int, *, use_model: bool) -> None:
    settings = get_settings()
    redis = redis_client(settings.redis_url)
    store = StreamStore(redis, settings.stream_ttl_seconds)
    stream, clip = store.get_stream(stream_id), store.get_clip(stream_id, seq)
    if stream is None or clip is None:
        log.warning("event=clip_missing stream=%s seq=%d", stream_id, seq)
        return
    if clip.state in (ClipState.encoded, ClipState.packaged):
        log.info("event=clip_already_encoded stream=%s seq=%d", stream_id, seq)
        enqueue_package(redis, settings, stream_id, seq)
        return
    mark_upscaling(store, stream_id, seq, clear_error=use_model)
    enhancement = clip_enhancement(stream, clip)

    def stream_output(width: int, height: int) -> tuple[int, int]:
        fixed = store.claim_output(stream_id, Size(width=width, height=height))
        return fixed.width, fixed.height

    parts = PartPublisher(settings, redis, store, stream_id, seq)
    progress = _progress_recorder(store, stream_id, seq, parts)
    with tempfile.TemporaryDirectory(prefix="sharpr-clip-") as tmp:
        source = Path(tmp) / f"input{Path(clip.key).suffix}"
        output = Path(tmp) / "output.mp4"
        try:
            asyncio.run(_download(settings, clip, source))
        except ObjectReplaced:  # uploaded again after its checks, with a grant still valid
            log.warning("event=clip_replaced stream=%s seq=%d", stream_id, seq)
            _fail_clip(redis, settings, stream_id, seq, "clip_replaced",
                       "the clip was uploaded again after it was registered; the new upload is not read")
            return
        try:
            result, degraded = _upscale(source, output, enhancement, settings, progress, stream_output,
                                        parts, use_model=use_model)
        except (BadMedia, av.error.FFmpegError) as error:
            bad = error if isinstance(error, BadMedia) else media_error("the clip cannot be decoded", error)
            log.warning("event=bad_media stream=%s seq=%d error=%r", stream_id, seq, str(error))
            _fail_clip(redis, settings, stream_id, seq, bad.code, bad.message)
            return
        except StreamDeleted:
            log.info("event=clip_stopped stream=%s seq=%d reason=deleted", stream_id, seq)
            asyncio.run(remove_leftovers(settings, store, stream_id))
            return
    mark_encoded(
        store, clip, duration=result.duration, width=result.width, height=result.height,
        frames=result.frames, frames_skipped=result.frames_skipped, parts=parts.published,
        timings=result.timings, degraded=degraded, tier=None if degraded else enhancement.tier,
    )
    add_frame_counts(redis, model=result.frames - result.frames_skipped, skipped=result.frames_skipped)
    log.info(
        "event=clip_encoded stream=%s seq=%d frames=%d frames_skipped=%d parts=%d duration=%.3f "
        "degraded=%s tier=%s wall=%.2f",
        stream_id, seq, result.frames, result.frames_skipped, parts.published, result.duration,
        degraded, enhancement.tier, result.timings["wall"],
    )
    enqueue_package(redis, settings, stream_id, seq)
    if not degraded:  # the resize's speed says nothing about the model's
        width, height = result.input_size
        capacity.record_throughput(
            redis, capacity.this_worker(), enhancement.mode, enhancement.tier, enhancement.scale,
            result.frames * width * height, result.timings["wall"],
        )


def warm_model(mode: str, scale: int, width: int, height: int, tier: str = Tier.auto) -> None:
    """Load the model for a stream's mode and tier and run it once at its frame size while
    the stream's first clip is being recorded, so that clip pays neither for the load nor
    for the first run at a new size (memory grown, kernels set up). Both networks for
    `auto` mode, which picks one per clip; every tier the client may pick for `auto` tier."""
    settings = get_settings()
    modes = [Mode.anime, Mode.live_action] if mode == Mode.auto else [Mode(mode)]
    tiers = allowed_tiers(Enhancement(mode=Mode(mode), scale=scale, tier=Tier(tier)))
    for each in modes:
        for chosen in tiers:
            seconds = warm_size(Enhancement(mode=each, scale=scale, tier=chosen), width, height, settings)
            if seconds is not None:
                log.info("event=model_warmed mode=%s tier=%s scale=%d size=%dx%d seconds=%.2f",
                         each, chosen, scale, width, height, seconds)


def warm_size(enhancement: Enhancement, width: int, height: int, settings: Settings) -> float | None:
    """Run the model once on a frame of this size unless this process already has; the
    seconds it took (load included), or None when it was warm already."""
    key = (str(enhancement.mode), str(enhancement.tier), enhancement.scale, width, height)
    with _warming:
        if key in _warmed:
            return None
        started = time.perf_counter()
        load_upscaler(enhancement, settings).upscale(np.zeros((1, height, width, 3), np.uint8))
        _warmed.add(key)
        return time.perf_counter() - started


def upscale_failed(
    job: Job, connection: Redis, kind: type[BaseException], error: BaseException, tb: TracebackType | None,
) -> None:
    """on_failure callback: once RQ will not retry, publish the clip unenhanced instead.

    RQ 2.12 calls it on every failed attempt, before it decides to retry (and for jobs
    found abandoned), while `retries_left` still counts the coming retry.
    """
    if job.retries_left:
        return
    stream_id, seq = job.args
    settings = get_settings()
    redis = redis_client(settings.redis_url)
    code, message = _failure(kind, error)
    log.error("event=upscale_failed_for_good stream=%s seq=%d fallback=unenhanced error=%r",
              stream_id, seq, _details(kind, error))
    record_clip_error(StreamStore(redis, settings.stream_ttl_seconds), stream_id, seq, code, message)
    enqueue_unenhanced(redis, settings, stream_id, seq)


def unenhanced_failed(
    job: Job, connection: Redis, kind: type[BaseException], error: BaseException, tb: TracebackType | None,
) -> None:
    """on_failure callback of `publish_unenhanced`: fail the clip so the stream goes on."""
    if job.retries_left:
        return
    stream_id, seq = job.args
    settings = get_settings()
    code, message = _failure(kind, error)
    log.error("event=clip_failed_for_good stream=%s seq=%d error=%r", stream_id, seq, _details(kind, error))
    _fail_clip(redis_client(settings.redis_url), settings, stream_id, seq, code, message)


def _failure(kind: type[BaseException], error: BaseException) -> tuple[str, str]:
    """(code, message) for the clip, without the server paths and hosts `_details` has."""
    code = error.code if isinstance(error, SharprError) else "upscale_failed"
    return code, without_server_details(_details(kind, error))


def _details(kind: type[BaseException], error: BaseException) -> str:
    return "".join(traceback.format_exception_only(kind, error)).strip()


def _upscale(
    source: Path, output: Path, enhancement: Enhancement, settings: Settings,
    progress: ProgressCallback, output_size: OutputSize, parts: PartPublisher, *, use_model: bool,
) -> tuple[TranscodeResult, bool]:
    """(result, degraded): the model if asked for and it loads and runs, else the plain
    resize, which publishes only the parts the model did not get to."""
    if use_model:
        try:
            model = load_upscaler(enhancement, settings)
            return transcode(source, output, model, settings, progress, on_part=parts,
                             output_size=output_size), False
        # The clip, not the model: a resize would fail too. A part not published: RQ retries.
        # RQ's timeout: the attempt is over, and a resize inside it would run unbounded.
        except (BadMedia, av.error.FFmpegError, PartNotPublished, BaseTimeoutException, StreamDeleted):
            raise
        except Exception:
            log.exception("event=model_failed stream=%s seq=%d parts_done=%d fallback=resize",
                          parts.stream_id, parts.seq, parts.published)
    parts.enhanced = False
    resize = ResizeUpscaler(enhancement.scale)
    return transcode(source, output, resize, settings, progress, on_part=parts, output_size=output_size), True


def _progress_recorder(store: StreamStore, stream_id: str, seq: int, parts: PartPublisher) -> ProgressCallback:
    """Write frames done/total and parts published to the clip and the job's meta, at most
    ~2 times a second, from this one thread so the writes never cross; a write that fails
    even after the client's retries is logged and dropped."""
    job = get_current_job()
    last = 0.0

    def record(done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < PROGRESS_MIN_INTERVAL and done < total:
            return
        last = now
        try:
            record_progress(store, stream_id, seq, frames_done=done, frames_total=total, parts_done=parts.published)
            if job is not None:
                job.meta["progress"] = {"frames_done": done, "frames_total": total}
                job.save_meta()
        except RedisError as error:  # progress is for show: an outage must not fail the clip
            log.warning("event=progress_not_recorded stream=%s seq=%d error=%r", stream_id, seq, str(error))

    return record


def _fail_clip(redis: Redis, settings: Settings, stream_id: str, seq: int, code: str, message: str) -> None:
    fail_clip(StreamStore(redis, settings.stream_ttl_seconds), stream_id, seq, code, message)
    enqueue_package(redis, settings, stream_id, seq)


async def _download(settings: Settings, clip: Clip, path: Path) -> None:
    """The clip's input as registered: the object of the ETag checked then, if it has one."""
    async with open_store(settings) as store:
        await store.download_file(clip.key, path, if_match=clip.etag)
