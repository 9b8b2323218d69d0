"""The live HLS origin the live-source tests and bench use: real segments, a playlist that
grows on the clock and parses as live, a sliding window, a stall, a 404 segment."""

import io
import itertools
import time
from pathlib import Path

import av
import httpx
import m3u8
import pytest

from tests.live_hls_server import (
    INIT_NAME,
    SourceSegment,
    Variant,
    cut_segments,
    live_hls,
    write_live_clip,
)

SECONDS, SEGMENT_SECONDS, FPS = 3.0, 0.5, 10
SEGMENTS = round(SECONDS / SEGMENT_SECONDS)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("live") / "clip.mp4"
    frames = write_live_clip(path, seconds=SECONDS, width=64, height=36, fps=FPS,
                             segment_seconds=SEGMENT_SECONDS)
    return path, frames


@pytest.fixture(scope="module", params=[False, True], ids=["ts", "fmp4"])
def cut(request: pytest.FixtureRequest, clip: tuple[Path, int],
        tmp_path_factory: pytest.TempPathFactory) -> tuple[list[SourceSegment], Path, bool]:
    folder = tmp_path_factory.mktemp("segments")
    fmp4 = request.param
    return cut_segments(clip[0], folder, segment_seconds=SEGMENT_SECONDS, fmp4=fmp4), folder, fmp4


def follow(site_url: str, until: float) -> list[m3u8.M3U8]:
    """Every distinct playlist seen by reloading every 50 ms until it ends or `until`."""
    seen: list[m3u8.M3U8] = []
    texts: list[str] = []
    while time.monotonic() < until:
        text = httpx.get(site_url).text
        if not texts or text != texts[-1]:
            texts.append(text)
            seen.append(m3u8.loads(text, uri=site_url))
        if seen[-1].is_endlist:
            break
        time.sleep(0.05)
    return seen


def decoded_frames(data: bytes) -> int:
    with av.open(io.BytesIO(data)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_cut_segments_add_up_to_the_clip(clip, cut):
    segments, folder, fmp4 = cut
    assert [s.name for s in segments] == [f"seg{i:05d}.{'m4s' if fmp4 else 'ts'}"
                                          for i in range(SEGMENTS)]
    assert sum(s.frames for s in segments) == clip[1]
    assert sum(s.duration for s in segments) == pytest.approx(SECONDS, abs=1e-6)
    assert all(s.duration == pytest.approx(SEGMENT_SECONDS) for s in segments)
    assert (folder / INIT_NAME).exists() == fmp4


def test_playlist_grows_live_then_ends_and_its_segments_decode(clip, cut):
    segments, folder, fmp4 = cut
    # Real time: a reload every few ms sees each step even on a busy machine.
    with live_hls(segments, folder, fmp4=fmp4) as site:
        seen = follow(site.url, time.monotonic() + 10)
        body = b"".join(httpx.get(segment.absolute_uri).content for segment in seen[-1].segments)
        init = httpx.get(site.url.replace("live.m3u8", INIT_NAME)) if fmp4 else None
        listed_at = site.listed_at

    counts = [len(p.segments) for p in seen]  # a reload may miss a step on a busy machine
    assert counts[0] == 1 and counts[-1] == SEGMENTS and len(counts) >= 4
    assert counts == sorted(set(counts))
    assert not any(p.is_endlist for p in seen[:-1]) and seen[-1].is_endlist
    assert {(p.media_sequence, p.playlist_type, p.target_duration) for p in seen} == {(0, "event", 1)}
    assert {p.version for p in seen} == {7 if fmp4 else 3}
    assert [p.segment_map[0].uri if fmp4 else None for p in seen[:1]] == [INIT_NAME if fmp4 else None]
    # the clock: one segment published every segment's length
    times = [at for at in listed_at if at is not None]
    assert len(times) == SEGMENTS
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps == pytest.approx([SEGMENT_SECONDS] * (SEGMENTS - 1))
    if init is not None:
        assert init.headers["content-type"] == "video/mp4"
        body = init.content + body
    assert decoded_frames(body) == clip[1]


def test_sliding_window_advances_the_media_sequence_and_expires_old_segments(cut):
    segments, folder, fmp4 = cut
    with live_hls(segments, folder, window=2, preroll=2, fmp4=fmp4, speed=4.0) as site:
        seen = follow(site.url, time.monotonic() + 5)
        time.sleep(0.2)  # past the RFC 8216 §6.2.2 grace of the first segments
        first, last = (httpx.get(site.url.replace("live.m3u8", s.name)).status_code
                       for s in (segments[0], segments[-1]))

    sequences = [p.media_sequence for p in seen]
    assert sequences[0] == 0 and sequences[-1] == SEGMENTS - 2 and sequences == sorted(set(sequences))
    assert all(len(p.segments) == 2 and p.playlist_type is None for p in seen)
    assert [s.uri for s in seen[-1].segments] == [s.name for s in segments[-2:]]
    assert seen[-1].is_endlist and not any(p.is_endlist for p in seen[:-1])
    assert (first, last) == (404, 200)


def test_stalled_source_stops_changing_and_never_ends(cut):
    segments, folder, fmp4 = cut
    with live_hls(segments, folder, stall_after=3, fmp4=fmp4, speed=8.0) as site:
        time.sleep(SECONDS / 8 + 0.2)  # longer than the whole clip takes
        playlist = m3u8.loads(httpx.get(site.url).text)
        after = httpx.get(site.url.replace("live.m3u8", segments[3].name)).status_code
        listed = site.listed()

    assert [s.uri for s in playlist.segments] == [s.name for s in segments[:3]]
    assert not playlist.is_endlist
    assert (after, listed) == (404, 3)


def test_missing_future_and_unknown_paths_answer_404_and_master_lists_the_variants(cut):
    segments, folder, fmp4 = cut
    small = Variant(width=32, height=18, bandwidth=50_000)
    # The clock held still (a segment every 100 s): a busy machine must not list a 4th meanwhile.
    with live_hls(segments, folder, preroll=3, missing=frozenset({1}), fmp4=fmp4,
                  extra_variants=[small], speed=0.01) as site:
        def get(name: str) -> httpx.Response:
            return httpx.get(site.url.replace("live.m3u8", name))
        statuses = [get(s.name).status_code for s in segments]
        unknown = get("nothing.ts").status_code
        head = httpx.head(site.url.replace("live.m3u8", segments[0].name))
        master = m3u8.loads(httpx.get(site.master_url).text, uri=site.master_url)
        variant = get(small.uri)
        requests = [path for _, path in site.requests]

    assert statuses == [200, 404, 200] + [404] * (SEGMENTS - 3)  # 3.. not published yet
    assert unknown == 404
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == ("video/iso.segment" if fmp4 else "video/mp2t")
    assert [(p.uri, p.stream_info.resolution) for p in master.playlists] == [
        ("live.m3u8", (64, 36)), (small.uri, (32, 18))]
    assert master.playlists[0].stream_info.bandwidth > 0
    assert variant.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert [s.uri for s in m3u8.loads(variant.text).segments] == [s.name for s in segments[:3]]
    assert requests[:2] == [f"/{segments[0].name}", f"/{segments[1].name}"]
