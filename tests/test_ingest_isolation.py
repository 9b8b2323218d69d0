"""URL ingest never delays packaging: while two ingests of 60-s videos run, every clip of a
live stream is packaged within 2 s of its upscale finishing.

Each service is a real `sharpr` process (API, worker, packager and two ingest runners)
against this test's own Redis and S3. The videos come from a site on 127.0.0.1, let through
by the URL guard's allow-list; it sends them slowly, as a far-away site would, so both
ingests (fetch, re-encode, cut) are still running while the live clips go through. Slow
(the worker's warm-up, a minute of ingest), so marked `faults` like the other tests of
whole deployments.
"""

import time
from pathlib import Path

import httpx
import pytest
from rq import Queue, Worker
from rq.job import Job

from services.core.jobqueue import INGEST_QUEUE, PACKAGE_QUEUE, UPSCALE_QUEUE
from services.core.schemas import Clip, ClipState
from services.core.settings import get_settings
from tests.api_client import auth, send_clip
from tests.cluster import Cluster, wait_for, wait_until_ended
from tests.media import write_clip
from tests.remote_site import serving

pytestmark = pytest.mark.faults

FPS = 15
VIDEO_SECONDS = 60.0
# How long the site takes to send each video: long enough for several live clips.
DOWNLOAD_SECONDS = 25.0
LIVE_CLIP_SECONDS = 2.0
MAX_LIVE_CLIPS = 40
PACKAGED_WITHIN_SECONDS = 2.0


def packaged_at(clip: Clip) -> float:
    """When the packager put the clip's last segment in the playlist: it records the
    latency from the clip's registration to then."""
    return clip.timings["registered_at"] + clip.timings["latency"]


def start_services(cluster: Cluster) -> httpx.Client:
    """API, worker, packager and two ingest runners, once each has registered on its queue."""
    api = cluster.start_api("api")
    for name, command in (
        ("worker", "worker"),
        ("packager", "packager"),
        ("ingest-a", "ingest"),
        ("ingest-b", "ingest"),
    ):
        cluster.run(name, command)
    redis = cluster.redis()
    for queue, count in ((UPSCALE_QUEUE, 1), (PACKAGE_QUEUE, 1), (INGEST_QUEUE, 2)):
        wait_for(
            lambda q=queue, n=count: len(Worker.all(queue=Queue(q, connection=redis))) == n,
            120,
            f"{count} worker(s) on {queue}",
        )
    return api


def test_live_clips_are_packaged_within_2s_of_their_upscale_while_two_url_ingests_run(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("SHARPR_INGEST_ALLOW_HOSTS", '["127.0.0.1"]')  # the API's and the ingests'
    site = tmp_path / "site"
    site.mkdir()
    for name in ("a.mp4", "b.mp4"):  # a keyframe every 16.7 s: each ingest re-encodes its video
        write_clip(site / name, seconds=VIDEO_SECONDS, width=64, height=36, fps=FPS)
    live_clip = tmp_path / "live.webm"
    write_clip(live_clip, seconds=LIVE_CLIP_SECONDS, width=64, height=36, fps=FPS)
    settings = get_settings()
    streams = cluster.streams(settings)
    api = start_services(cluster)
    redis = cluster.redis()

    with serving(
        site, bytes_per_second=(site / "a.mp4").stat().st_size / DOWNLOAD_SECONDS
    ) as remote:
        videos = [
            api.post("/v1/videos", json={"url": f"{remote.url}/{name}"}).json()
            for name in ("a.mp4", "b.mp4")
        ]
        ingests = [Job.fetch(f"ingest-{video['id']}", connection=redis) for video in videos]
        wait_for(
            lambda: all(job.get_status(refresh=True) == "started" for job in ingests),
            30,
            "both ingests running",
        )

        # A live capture meanwhile: a clip every clip length, until both ingests are done.
        live = api.post("/v1/streams", json={"mode": "anime", "scale": 2}).json()
        seq = 0
        while seq < MAX_LIVE_CLIPS and any(
            job.get_status(refresh=True) != "finished" for job in ingests
        ):
            assert send_clip(api, live, seq, live_clip).status_code == 202
            seq += 1
            time.sleep(LIVE_CLIP_SECONDS)
        assert [job.get_status(refresh=True) for job in ingests] == ["finished", "finished"]
    assert (
        api.post(f"/v1/streams/{live['id']}/stop", headers=auth(live["token"])).status_code == 202
    )
    wait_until_ended(streams, live["id"], timeout=180)

    # Both ingests ran whole and side by side: each cut its 60-s video into 10-s clips.
    for video in videos:
        assert len(streams.get_clips(video["id"])) == 6, video
    for job in ingests:
        job.refresh()
    started = max(job.started_at.timestamp() for job in ingests)
    ended = min(job.ended_at.timestamp() for job in ingests)
    assert started < ended
    clips = streams.get_clips(live["id"])
    assert [clip.state for clip in clips] == [ClipState.packaged] * seq
    waits = {clip.seq: round(packaged_at(clip) - clip.timings["encoded_at"], 3) for clip in clips}
    during = [
        clip.seq
        for clip in clips
        if started <= clip.timings["encoded_at"] and packaged_at(clip) <= ended
    ]
    assert len(during) >= 3, (
        f"only clips {during} were upscaled and packaged while both ingests ran"
    )
    assert all(wait <= PACKAGED_WITHIN_SECONDS for wait in waits.values()), waits
