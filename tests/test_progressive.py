"""Progressive segments with the real services: a clip's first part is in the playlist a
player reads while the worker is still on the rest of that clip."""

import time

import httpx
import m3u8

from services.core.jobqueue import redis_client
from services.core.schemas import ClipState
from services.core.streams import StreamStore
from tests.api_client import auth, send_clip
from tests.cluster import wait_until_ended
from tests.media import write_clip
from tests.stream_checks import assert_complete_playlist

FPS = 15


def test_first_part_plays_while_the_rest_of_its_clip_is_in_the_worker(stack, tmp_path):
    clip = tmp_path / "rec.webm"
    write_clip(clip, seconds=6, width=160, height=90, fps=FPS)  # three 2-s parts
    streams = StreamStore(redis_client(stack.settings.redis_url), stack.settings.stream_ttl_seconds)
    with httpx.Client(base_url=stack.api_url, timeout=10) as api:
        stream = api.post("/v1/streams", json={"mode": "anime", "scale": 2}).json()
        assert send_clip(api, stream, 0, clip).status_code == 202

        seen: tuple[list[str], ClipState] | None = None
        deadline = time.monotonic() + 240
        while seen is None and time.monotonic() < deadline:
            response = httpx.get(stream["playlist_url"])
            if response.status_code == 200 and m3u8.loads(response.text).segments:
                # Read after the playlist: a clip not encoded now was not encoded then.
                seen = ([s.uri for s in m3u8.loads(response.text).segments],
                        streams.get_clip(stream["id"], 0).state)
            time.sleep(0.05)
        assert seen is not None, "nothing was published"
        uris, state = seen
        assert uris[0] == "000000_000.ts"
        assert state == ClipState.upscaling, f"the playlist first had {uris} once the clip was {state}"

        assert api.post(f"/v1/streams/{stream['id']}/stop", headers=auth(stream["token"])).status_code == 202
    wait_until_ended(streams, stream["id"], timeout=240)
    assert_complete_playlist(stack.settings, stream["id"], {0: 6.0}, FPS)
