"""Following a live source outlives the ingest process that follows it: killed in the
middle of fetching a segment, its run is retried by another ingest once RQ finds it
abandoned, and following goes on from the last media sequence taken (kept in Redis), so
the enhanced stream still holds every source frame once, in order.
"""

import time
from pathlib import Path

import pytest

from services.core.settings import get_settings
from tests.api_client import auth
from tests.cluster import Cluster, wait_for
from tests.live_checks import assert_same_frames, requested_once
from tests.live_hls_server import cut_segments, live_hls, write_live_clip

WIDTH, HEIGHT, FPS, SEGMENT, SECONDS = 64, 36, 15, 2.0, 16.0
HELD = 3  # the segment the first ingest is killed while fetching
# RQ finds a run abandoned about 90 s after its worker's last heartbeat, then retries it.
RESUME_SECONDS = 200


@pytest.mark.faults
@pytest.mark.live
def test_follower_killed_mid_segment_is_resumed_by_another_ingest_losing_nothing(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("SHARPR_INGEST_ALLOW_HOSTS", '["127.0.0.1"]')
    get_settings.cache_clear()
    settings = get_settings()
    clip = tmp_path / "live.mp4"
    write_live_clip(clip, seconds=SECONDS, width=WIDTH, height=HEIGHT, fps=FPS, segment_seconds=SEGMENT)
    segments = cut_segments(clip, tmp_path / "site", segment_seconds=SEGMENT)
    api = cluster.start_api("api-a")
    for name in ("worker", "packager", "ingest"):
        cluster.run(name if name != "ingest" else "ingest-a", name)
    wait_for(lambda: api.get("/v1/capacity").json()["fleet"], 120, "a worker measured")

    with live_hls(segments, tmp_path / "site", hold=HELD) as site:
        video = api.post("/v1/videos", json={"url": site.url}).json()
        assert site.holding.wait(60), "the follower never reached the held segment"
        cluster.kill("ingest-a")
        site.released.set()
        cluster.run("ingest-b", "ingest")
        killed_at = time.monotonic()

        def ended() -> bool:
            return api.get(f"/v1/streams/{video['id']}", headers=auth(video["token"])).json()["state"] == "ended"

        wait_for(ended, RESUME_SECONDS, "the stream ended after the restart")

    final = api.get(f"/v1/streams/{video['id']}", headers=auth(video["token"])).json()
    assert final["error"] is None, final
    live = final["live"]
    assert (live["segments_taken"], live["segments_missing"], live["skipped_seconds"]) == (len(segments), 0, 0)
    assert_same_frames(settings, video["id"], clip, segments, tmp_path)
    requested_once(site, segments, again=frozenset({segments[HELD].name}))
    print(f"resumed and ended {time.monotonic() - killed_at:.0f} s after the kill")
