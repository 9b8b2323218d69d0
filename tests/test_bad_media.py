"""Issue 8 item 3: hostile or odd clips through the real API, worker and packager.

Each clip either gives a correct result or fails alone with an error code (at registration
or on the clip); the clips around it are published and the stream ends.
"""

import asyncio
import struct
import tracemalloc
import zlib
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from services.core.errors import BadMedia
from services.core.storage import open_store
from services.ingest.splitter import probe_source
from services.media.probe import probe
from services.media.remux import RemuxSource
from services.worker.clip_limits import probe_clip
from tests.api_client import auth
from tests.conftest import run_queues
from tests.media import huge_header, moving_pattern, write_clip
from tests.stream_checks import read_playlist

FPS = 15


def png_bytes(path: Path) -> bytes:
    """A real 8x8 PNG: signature, IHDR, IDAT, IEND."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + b"\x80" * 24 for _ in range(8))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def audio_only(path: Path) -> bytes:
    write_clip(path, seconds=1.0)  # reuse its tone: remux the audio alone
    out_path = path.with_name("audio.webm")
    with av.open(str(path)) as source, av.open(str(out_path), "w") as out:
        stream = out.add_stream_from_template(source.streams.audio[0])
        for packet in source.demux(source.streams.audio[0]):
            if packet.dts is not None:  # the demuxer's final empty packet is not muxable
                packet.stream = stream
                out.mux(packet)
    return out_path.read_bytes()


def variable_rate(path: Path) -> bytes:
    """Frames 1/15 s apart, then 1/5 s apart: what a tab capture does when the page idles."""
    path = path.with_suffix(".mp4")
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt, video.time_base = 64, 36, "yuv420p", Fraction(1, 90000)
        video.options = {"preset": "ultrafast"}
        times = [n / 15 for n in range(15)] + [1 + n / 5 for n in range(5)]
        for n, t in enumerate(times):
            frame = av.VideoFrame.from_ndarray(write_frame(n), format="rgb24")
            frame.pts, frame.time_base = round(t * 90000), Fraction(1, 90000)
            out.mux(video.encode(frame))
        out.mux(video.encode())
    return path.read_bytes()


def write_frame(n: int) -> np.ndarray:
    return moving_pattern(n, 64, 36)


def odd_size(path: Path) -> bytes:
    write_clip(path, seconds=0.4, width=321, height=181)
    return path.read_bytes()


def truncated(path: Path) -> bytes:
    write_clip(path, seconds=2.0)
    data = path.read_bytes()
    return data[: len(data) // 2]


# name -> (content, extension); each is a clip between two good ones.
CASES: dict[str, tuple[Callable[[Path], bytes], str]] = {
    "truncated_webm": (truncated, "webm"),
    "zero_bytes": (lambda path: b"", "webm"),
    "png_named_webm": (png_bytes, "webm"),
    "audio_only": (audio_only, "webm"),
    "header_claims_16000x16000": (huge_header, "webm"),
    "variable_frame_rate": (variable_rate, "mp4"),
    "odd_size_321x181": (odd_size, "webm"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_or_odd_clip_fails_alone_or_plays_and_the_stream_ends(case, api, settings, redis, tmp_path):
    make, ext = CASES[case]
    stream = api.post("/v1/streams", json={"mode": "anime", "scale": 2}).json()
    good = tmp_path / "good.webm"
    write_clip(good, seconds=1.0)
    bodies = {0: (good.read_bytes(), "webm"), 1: (make(tmp_path / f"case.{ext}"), ext), 2: (good.read_bytes(), "webm")}

    async def upload() -> None:
        async with open_store(settings) as store:
            for seq, (body, suffix) in bodies.items():
                await store.put_bytes(f"streams/{stream['id']}/input/{seq:06d}.{suffix}", body)

    asyncio.run(upload())
    refused = None
    for seq, (_body, suffix) in bodies.items():
        response = api.post(f"/v1/streams/{stream['id']}/clips", headers=auth(stream["token"]),
                            json={"seq": seq, "key": f"streams/{stream['id']}/input/{seq:06d}.{suffix}"})
        if seq == 1 and response.status_code != 202:
            assert 400 <= response.status_code < 500 and response.json()["error"]["code"]
            refused = response.json()["error"]["code"]
        else:
            assert response.status_code == 202, response.text
    assert api.post(f"/v1/streams/{stream['id']}/stop", headers=auth(stream["token"])).status_code == 202
    run_queues(redis, "upscale", "package")

    status = api.get(f"/v1/streams/{stream['id']}", headers=auth(stream["token"])).json()
    assert status["state"] == "ended"
    clips = {clip["seq"]: clip for clip in status["clips"]}
    assert clips[0]["state"] == clips[2]["state"] == "packaged"
    if refused is None:
        odd = clips[1]
        assert odd["state"] == "packaged" or (odd["state"] == "failed" and odd["error_code"]), odd
        assert "/" not in (odd["error"] or "") and "input." not in (odd["error"] or ""), odd
    playlist = read_playlist(settings, stream["id"])
    assert playlist.is_endlist
    seqs = [int(Path(s.uri).name.split("_")[0]) for s in playlist.segments]
    assert {0, 2} <= set(seqs) and seqs == sorted(seqs)
    print(case, "refused" if refused else clips[1]["state"], refused or clips[1].get("error_code"))


def test_frame_rate_is_frames_over_duration_not_a_frame_budget(settings, tmp_path):
    """480 frames in 2 s is 240 fps: refused although 480 is far below the frame budget
    (clip_max_seconds x clip_max_fps); the same rate over the whole budget is fine."""
    fast = tmp_path / "fast.webm"
    write_clip(fast, seconds=2.0, fps=240, audio=False)
    with pytest.raises(BadMedia) as refused:
        probe_clip(fast, settings)
    assert refused.value.code == "frame_rate_too_high"
    assert "240 frames per second" in refused.value.message
    at_limit = tmp_path / "at_limit.webm"
    write_clip(at_limit, seconds=1.0, fps=round(settings.clip_max_fps), audio=False)
    assert probe_clip(at_limit, settings).frames == round(settings.clip_max_fps)


def test_unreadable_clip_is_bad_media_with_no_server_path(settings, tmp_path):
    clip = tmp_path / "sharpr-clip-x" / "input.webm"
    clip.parent.mkdir()
    clip.write_bytes(b"\x1a\x45\xdf\xa3" + bytes(range(256)) * 8)  # EBML magic, then noise
    with pytest.raises(BadMedia) as refused:
        probe_clip(clip, settings)
    assert refused.value.code == "bad_media"
    assert refused.value.message.startswith("the clip is not a readable video: ")
    assert "/" not in refused.value.message and "input.webm" not in refused.value.message


def ffconcat_list(path: Path, target: str) -> None:
    path.write_text(f"ffconcat version 1.0\nfile '{target}'\n")


def hls_playlist(path: Path, target: str) -> None:
    path.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:1.0,\n{target}\n#EXT-X-ENDLIST\n")


@pytest.mark.parametrize("disguise", [ffconcat_list, hls_playlist])
def test_a_list_or_playlist_named_mp4_is_bad_media_and_nothing_it_names_is_read(disguise, settings, tmp_path):
    """FFmpeg sniffs content: without the demuxer and protocol lists, an ffconcat "mp4"
    made the worker read (and would have enhanced) another file in its directory."""
    write_clip(tmp_path / "private.ts", seconds=1.0)
    upload = tmp_path / "upload.mp4"
    disguise(upload, "private.ts")

    with pytest.raises(BadMedia) as refused:
        probe_clip(upload, settings)
    assert refused.value.code == "bad_media"
    with pytest.raises(av.error.FFmpegError):
        probe(upload, max_frames=100)  # the ingest's probe, before its remux or re-encode
    with pytest.raises(av.error.FFmpegError):
        RemuxSource(upload)


def packet_bomb(path: Path, packets: int, *, per_ms: float = 100, width: int = 64, height: int = 36) -> None:
    """A Matroska of `packets` six-byte H.264 blocks, `per_ms` to the millisecond: demuxed
    to the end it costs a list entry per block (a 1 GiB one ran the ingest out of memory)."""
    with av.open(str(path), "w", format="matroska") as out:
        stream = out.add_stream("h264", rate=25)
        stream.width, stream.height, stream.time_base = width, height, Fraction(1, 1000)
        for index in range(packets):
            packet = av.Packet(b"\x00\x00\x00\x01\x09\xf0")
            packet.stream, packet.time_base = stream, Fraction(1, 1000)
            packet.pts = packet.dts = int(index / per_ms)
            out.mux(packet)


def test_a_clip_of_countless_tiny_packets_is_refused_after_its_frame_budget_in_little_memory(settings, tmp_path):
    """The probe stops one frame past the budget (12 s at 120 fps) and keeps only keyframe
    times, so 200,000 packets cost kilobytes; the clip is refused for its rate."""
    bomb = tmp_path / "bomb.mkv"
    packet_bomb(bomb, 200_000)

    tracemalloc.start()
    try:
        with pytest.raises(BadMedia) as refused:
            probe_clip(bomb, settings)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert refused.value.code == "frame_rate_too_high"
    assert peak < 1_000_000  # demuxed to the end, the packets' times alone took ~40 MB


def test_sources_over_the_frame_size_rate_or_frame_budget_are_refused_before_decoding(settings, tmp_path):
    """The ingest re-encodes a source it cannot copy: a header claiming 16000x16000 (a
    gigabyte a frame), 240 fps, or more frames than the longest video at the highest rate
    is refused by the probe, with the worker's limits, before any frame is decoded."""
    huge, fast, bomb = tmp_path / "huge.mkv", tmp_path / "fast.webm", tmp_path / "bomb.mkv"
    packet_bomb(huge, 3, width=16000, height=16000)
    write_clip(fast, seconds=2.0, fps=240, audio=False)
    packet_bomb(bomb, 20_000, per_ms=0.1)  # 100 fps, under the rate limit, for 200 s
    short = settings.model_copy(update={"ingest_max_seconds": 60.0})  # a budget of 7,200 frames

    refusals = {}
    for source in (huge, fast, bomb):
        with pytest.raises(BadMedia) as refused:
            probe_source(source, short)
        refusals[source.name] = (refused.value.code, refused.value.message)
    assert refusals == {
        "huge.mkv": ("bad_media", "frame size 16000x16000 is over the limit of 3840x2160 pixels"),
        "fast.webm": ("frame_rate_too_high", "the video runs at 240 frames per second, over the limit of 120"),
        "bomb.mkv": ("too_many_frames", "the video has more than 7200 frames (120 fps for 60 s)"),
    }
