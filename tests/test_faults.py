"""Issue 8's faults with real processes: each test kills, restarts or starves a part of its
own deployment (Redis, S3, a service) mid-stream, then checks the stream still ends with a
playlist covering every second of its input and no duplicate segment.
"""

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from rq import Queue, Worker

from services.core import keys
from services.core.jobqueue import PACKAGE_JOB, PACKAGE_QUEUE
from services.core.localservers import free_port
from services.core.schemas import ClipState, Enhancement
from services.core.settings import get_settings
from services.core.storage import open_store
from services.core.stream_transitions import end_stream
from tests.api_client import auth, send_clip
from tests.cluster import Cluster, StatusPoller, send_clips, wait_for, wait_until_ended
from tests.faulty_s3_proxy import running_proxy
from tests.media import write_clip
from tests.stream_checks import assert_complete_playlist

pytestmark = pytest.mark.faults

FPS = 15


@pytest.fixture
def clips(tmp_path: Path) -> dict[str, Path]:
    """A short clip and a longer one that keeps a worker busy for a few seconds."""
    short, long = tmp_path / "short.webm", tmp_path / "long.webm"
    write_clip(short, seconds=2.0, width=64, height=36, fps=FPS)
    write_clip(long, seconds=6.0, width=96, height=54, fps=FPS)
    return {"short": short, "long": long}


def object_exists(key: str) -> bool:
    async def head() -> bool:
        async with open_store(get_settings()) as store:
            return await store.head(key) is not None

    return asyncio.run(head())


def test_packager_killed_between_segment_upload_and_playlist_write_loses_nothing(cluster: Cluster, clips):
    settings = get_settings()
    streams = cluster.streams(settings)
    cluster.run("worker", "worker")
    stream = send_clips(settings, streams, {0: clips["short"], 1: clips["short"]})
    end_stream(streams, settings, stream)
    wait_for(lambda: all(c.state == ClipState.encoded for c in streams.get_clips(stream.id)), 90, "clips encoded")

    with running_proxy(cluster.s3_url) as proxy:
        proxy.hold(f"PUT /{settings.s3_bucket}/{keys.playlist_key(stream.id)}")
        cluster.run("packager-a", "packager", SHARPR_S3_ENDPOINT_URL=proxy.url)
        assert proxy.held.wait(60), "the packager never wrote a playlist"
        # Its segments are in S3, its playlist is not: the crash the issue names.
        assert object_exists(keys.segment_key(stream.id, 0, 0))
        assert not object_exists(keys.playlist_key(stream.id))
        cluster.kill("packager-a")

    cluster.run("packager-b", "packager")
    wait_until_ended(streams, stream.id, timeout=60)
    assert_complete_playlist(settings, stream.id, {0: 2.0, 1: 2.0}, FPS)


def test_stream_rides_out_s3_answering_503_for_a_while(cluster: Cluster, clips):
    settings = get_settings()
    streams = cluster.streams(settings)
    with running_proxy(cluster.s3_url) as proxy:
        cluster.run("worker", "worker", SHARPR_S3_ENDPOINT_URL=proxy.url)
        cluster.run("packager", "packager", SHARPR_S3_ENDPOINT_URL=proxy.url)
        stream = send_clips(settings, streams, {0: clips["long"], 1: clips["short"]})
        # Once clip 0 is being upscaled its upload falls in the window, however slow the start.
        wait_for(lambda: streams.get_clip(stream.id, 0).frames_done > 0, 90, "clip 0 started", interval=0.05)
        proxy.fail_for(6.0)
        end_stream(streams, settings, streams.get_stream(stream.id))
        wait_until_ended(streams, stream.id, timeout=120)
        assert proxy.failed > 0
    assert all(not c.degraded and c.state == ClipState.packaged for c in streams.get_clips(stream.id))
    assert_complete_playlist(settings, stream.id, {0: 6.0, 1: 2.0}, FPS)


def stream_through_an_outage(cluster: Cluster, clips, outage: Callable[[], None]) -> tuple[str, StatusPoller]:
    """API, worker and packager as processes; two clips sent, `outage()` once clip 0 is being
    upscaled, the stream stopped and awaited while a client polls the API. Checks that the
    playlist covers every second and that the services that were running still run."""
    settings = get_settings()
    streams = cluster.streams(settings)
    api = cluster.start_api("api")
    services = [cluster.run("worker", "worker"), cluster.run("packager", "packager")]
    stream, token = streams.create_stream(Enhancement(scale=2))
    with StatusPoller(api, stream.id, token) as poller:
        send_clips(settings, streams, {0: clips["long"], 1: clips["short"]}, stream)
        wait_for(lambda: streams.get_clip(stream.id, 0).frames_done > 0, 60, "clip 0 started", interval=0.05)
        outage()
        end_stream(streams, settings, streams.get_stream(stream.id))
        wait_until_ended(streams, stream.id, timeout=180)
    assert_complete_playlist(settings, stream.id, {0: 6.0, 1: 2.0}, FPS)
    assert all(service.poll() is None for service in services), "a service died in the outage"
    poller.assert_no_server_error_but_503()
    return stream.id, poller


def test_redis_killed_mid_clip_and_back_5s_later_the_stream_finishes_on_the_same_processes(
    cluster: Cluster, clips,
):
    _stream_id, poller = stream_through_an_outage(
        cluster, clips, lambda: cluster.restart_redis(down_seconds=5.0, kill=True))
    assert 503 in poller.status, "the outage never reached the API"


def test_s3_refusing_connections_for_20s_loses_nothing(cluster: Cluster, clips):
    stream_id, _poller = stream_through_an_outage(cluster, clips, lambda: cluster.restart_s3(down_seconds=20.0))
    clips_after = cluster.streams(get_settings()).get_clips(stream_id)
    assert all(not c.degraded and c.state == ClipState.packaged for c in clips_after)


def test_api_restarted_mid_stream_clients_reregister_and_the_stream_completes(cluster: Cluster, clips):
    settings = get_settings()
    streams = cluster.streams(settings)
    port = free_port()
    api = cluster.start_api("api-a", port)
    cluster.run("worker", "worker")
    cluster.run("packager", "packager")
    stream = api.post("/v1/streams", json={"mode": "anime", "scale": 2}).json()
    assert send_clip(api, stream, 0, clips["short"]).status_code == 202
    cluster.kill("api-a")

    cluster.start_api("api-b", port)
    # The client did not see its answer for clip 0 and sends it again: 409 says it is in.
    again = api.post(f"/v1/streams/{stream['id']}/clips", headers=auth(stream["token"]),
                     json={"seq": 0, "key": f"streams/{stream['id']}/input/000000.webm"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "clip_exists"
    assert send_clip(api, stream, 1, clips["short"]).status_code == 202
    assert api.post(f"/v1/streams/{stream['id']}/stop", headers=auth(stream["token"])).status_code == 202
    wait_until_ended(streams, stream["id"], timeout=90)
    assert_complete_playlist(settings, stream["id"], {0: 2.0, 1: 2.0}, FPS)



def test_a_delayed_retry_runs_on_time_after_a_redis_restart(cluster: Cluster):
    """RQ's scheduler moves due retries back onto their queue; it must outlive the restart
    (or be restarted within seconds), not wait RQ's ten-minute maintenance interval."""
    cluster.run("packager", "packager")
    queue = Queue(PACKAGE_QUEUE, connection=cluster.redis())
    wait_for(lambda: len(Worker.all(queue=queue)) == 1, 60, "packager registered")
    # A packaging run for a stream that does not exist: it finishes at once, doing nothing.
    job = queue.enqueue_in(timedelta(seconds=10), PACKAGE_JOB, "0" * 32, None)
    cluster.restart_redis(down_seconds=5.0, kill=True)
    back = time.monotonic()
    wait_for(lambda: job.get_status(refresh=True) == "finished", 60, "the delayed job ran")
    assert time.monotonic() - back < 60
