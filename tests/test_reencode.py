"""`services.media.reencode` on real files: the writer's rules hold for a whole source too."""

from fractions import Fraction
from pathlib import Path

import av
import pytest

from services.core.errors import BadMedia
from services.media.reencode import reencode
from tests.media import huge_header, moving_pattern, write_clip

FPS = 15


def write_short_gops(path: Path, *, seconds: float, gop: int) -> None:
    """H.264 with a keyframe every `gop` frames and no audio."""
    options = {"preset": "ultrafast", "g": str(gop), "keyint_min": str(gop), "sc_threshold": "0"}
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=FPS, options=options)
        video.width, video.height, video.pix_fmt = 64, 36, "yuv420p"
        for i in range(round(seconds * FPS)):
            frame = av.VideoFrame.from_ndarray(moving_pattern(i, 64, 36), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            out.mux(video.encode(frame))
        out.mux(video.encode())


def tracks(path: Path) -> dict[str, tuple[list[float], float]]:
    """Per track: its keyframe times and where its last packet ends, in seconds."""
    found: dict[str, tuple[list[float], float]] = {}
    with av.open(str(path)) as container:
        for packet in container.demux():
            if not packet.size:
                continue
            keys, end = found.get(packet.stream.type, ([], 0.0))
            if packet.is_keyframe and packet.stream.type == "video":
                keys.append(float(packet.pts * packet.time_base))
            stop = float((packet.pts + packet.duration) * packet.time_base)
            found[packet.stream.type] = (keys, max(end, stop))
    return found


def test_source_keyframes_do_not_carry_over_only_the_grid_does(tmp_path):
    source, dest = tmp_path / "gops.mp4", tmp_path / "out.mp4"
    write_short_gops(source, seconds=5.0, gop=FPS)  # a keyframe every second

    reencode(source, dest, keyframe_seconds=2.0, preset="ultrafast")

    keys, end = tracks(dest)["video"]
    assert sorted(keys) == [0.0, 2.0, 4.0]
    assert end == pytest.approx(5.0, abs=1e-3)
    assert "audio" not in tracks(dest)  # none in, none out


def test_webm_audio_is_aac_laid_under_the_video_and_as_long(tmp_path):
    source, dest = tmp_path / "rec.webm", tmp_path / "out.mp4"
    frames = write_clip(source, seconds=4.5, fps=FPS)

    reencode(source, dest, keyframe_seconds=2.0, preset="ultrafast")

    found = tracks(dest)
    with av.open(str(dest)) as container:
        assert [s.codec_context.name for s in container.streams] == ["h264", "aac"]
        assert sum(1 for _ in container.decode(video=0)) == frames
    assert found["video"][1] == pytest.approx(frames / FPS, abs=1e-2)
    assert found["audio"][1] == pytest.approx(found["video"][1], abs=1e-3)


def test_a_keyframe_claiming_a_huge_size_is_bad_media_not_encoded(tmp_path):
    source = tmp_path / "huge.webm"
    source.write_bytes(huge_header(source))

    with pytest.raises(BadMedia) as refused:
        reencode(source, tmp_path / "out.mp4", keyframe_seconds=2.0, preset="ultrafast")
    assert refused.value.code == "bad_media"
