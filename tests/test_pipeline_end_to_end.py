"""A clip in at the API, a playable HLS stream out: real Redis, S3, PyAV, RQ jobs."""

from pathlib import Path

import av
import httpx
import m3u8
import pytest

from tests.api_client import auth, send_clip, upload_clip
from tests.conftest import run_queues
from tests.media import write_clip

WIDTH, HEIGHT, FPS = 64, 36, 15


@pytest.fixture
def stream(api) -> dict:
    return api.post("/v1/streams", json={"mode": "anime", "scale": 2}).json()


def fetch_playlist(stream: dict) -> m3u8.M3U8:
    response = httpx.get(stream["playlist_url"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.apple.mpegurl"
    return m3u8.loads(response.text, uri=stream["playlist_url"])


def decode_segment(url: str, path: Path) -> tuple[int, tuple[int, int], bool, float]:
    """(video frames, frame size, has audio, first video pts in seconds) of one segment."""
    response = httpx.get(url)
    assert response.status_code == 200 and response.headers["content-type"] == "video/mp2t"
    path.write_bytes(response.content)
    with av.open(str(path)) as container:
        has_audio = any(s.type == "audio" for s in container.streams)
        frames = list(container.decode(video=0))
    return len(frames), (frames[0].width, frames[0].height), has_audio, float(frames[0].time)


def finish(api, stream: dict, redis) -> m3u8.M3U8:
    assert api.post(f"/v1/streams/{stream['id']}/stop", headers=auth(stream["token"])).status_code == 202
    run_queues(redis, "upscale", "package")
    return fetch_playlist(stream)


def test_clip_becomes_a_playable_upscaled_stream(api, stream, redis, tmp_path):
    clip = tmp_path / "in.webm"
    frames_in = write_clip(clip, seconds=2.0, width=WIDTH, height=HEIGHT, fps=FPS)
    assert send_clip(api, stream, 0, clip).status_code == 202
    run_queues(redis, "upscale", "package")

    live = fetch_playlist(stream)
    assert live.playlist_type == "event" and not live.is_endlist
    playlist = finish(api, stream, redis)
    assert playlist.is_endlist
    assert all(round(s.duration) <= playlist.target_duration for s in playlist.segments)

    total_frames, starts = 0, []
    for n, segment in enumerate(playlist.segments):
        frames, size, has_audio, start = decode_segment(segment.absolute_uri, tmp_path / f"{n}.ts")
        assert size == (2 * WIDTH, 2 * HEIGHT)
        assert has_audio
        total_frames += frames
        starts.append(start)
    assert total_frames == frames_in
    assert starts == sorted(starts)
    assert abs(sum(s.duration for s in playlist.segments) - frames_in / FPS) <= 1 / FPS

    status = api.get(f"/v1/streams/{stream['id']}", headers=auth(stream["token"])).json()
    assert status["state"] == "ended"
    assert status["clips"][0]["state"] == "packaged"
    assert status["clips"][0]["frames_done"] == status["clips"][0]["frames_total"] == frames_in


def test_out_of_order_clips_keep_playlist_contiguous(api, stream, redis, tmp_path):
    # Registered 2, 0, 1: the worker finishes them in that order.
    for seq in (2, 0, 1):
        clip = tmp_path / f"{seq}.webm"
        write_clip(clip, seconds=1.0, width=WIDTH, height=HEIGHT, fps=FPS)
        assert send_clip(api, stream, seq, clip).status_code == 202
    playlist = finish(api, stream, redis)

    seqs = [int(Path(s.uri).name.split("_")[0]) for s in playlist.segments]
    assert seqs == sorted(seqs) and set(seqs) == {0, 1, 2}
    starts = [decode_segment(s.absolute_uri, tmp_path / f"s{n}.ts")[3] for n, s in enumerate(playlist.segments)]
    # Timestamps run on across clips: each segment starts where the previous ended.
    for previous, current, segment in zip(starts, starts[1:], playlist.segments):
        assert current == pytest.approx(previous + segment.duration, abs=1.5 / FPS)
    assert playlist.is_endlist


def test_undecodable_clip_fails_alone_and_the_stream_still_ends(api, stream, redis, tmp_path):
    good = tmp_path / "good.webm"
    write_clip(good, seconds=1.0, width=WIDTH, height=HEIGHT, fps=FPS)
    broken = good.read_bytes()[:200]  # a WebM header and nothing decodable after it
    assert send_clip(api, stream, 0, good).status_code == 202
    assert upload_clip(api, stream, 1, broken).status_code == 204
    key = f"streams/{stream['id']}/input/000001.webm"
    registered = api.post(f"/v1/streams/{stream['id']}/clips", json={"seq": 1, "key": key}, headers=auth(stream["token"]))
    assert registered.status_code == 202
    playlist = finish(api, stream, redis)

    assert playlist.is_endlist
    assert {Path(s.uri).name.split("_")[0] for s in playlist.segments} == {"000000"}
    clips = api.get(f"/v1/streams/{stream['id']}", headers=auth(stream["token"])).json()["clips"]
    assert clips[1]["state"] == "failed" and clips[1]["error_code"] == "bad_media"


def test_stop_with_no_clips_ends_with_an_empty_playlist(api, stream, redis):
    playlist = finish(api, stream, redis)
    assert playlist.is_endlist and playlist.segments == []
