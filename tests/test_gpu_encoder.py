"""Choosing and configuring the H.264 encoder for a GPU with NVENC. No NVENC unit exists
here, so where a test needs one it stands in for the GPU by saying NVENC opens; PyAV and
its encoders are the real ones."""

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from services.media import writer
from services.media.reader import FrameBatch
from services.media.writer import VideoWriter, encoder_options, h264_encoder


@pytest.fixture
def gpu_with_nvenc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer, "nvenc_opens", lambda: True)


@pytest.mark.usefixtures("gpu_with_nvenc")
def test_nvenc_is_chosen_per_output_size_and_never_past_4096_pixels_a_side() -> None:
    assert h264_encoder(3840, 2160) == "h264_nvenc"  # 1080p x2, 720p x3
    assert h264_encoder(2160, 3840) == "h264_nvenc"  # a portrait 1080p x2
    assert h264_encoder(5760, 3240) == "libx264"  # 1080p x3
    assert h264_encoder(5120, 2880) == "libx264"  # 720p x4


def test_without_nvenc_every_size_is_libx264() -> None:
    assert h264_encoder(1280, 720) == "libx264"  # this machine: no GPU


def test_a_writer_whose_nvenc_refuses_to_open_encodes_with_libx264(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The choice says NVENC (as on a GPU), but opening it fails (as it does here, and on a
    # GPU for a size or a session count it refuses): the clip must still be written.
    monkeypatch.setattr(writer, "h264_encoder", lambda width, height: "h264_nvenc")
    out = tmp_path / "out.mp4"
    frames = np.full((3, 36, 64, 3), 128, np.uint8)
    with VideoWriter(out, 64, 36, keyframe_seconds=2.0, preset="ultrafast", audio=None) as video:
        video.write(FrameBatch(frames, [0.0, 1 / 15, 2 / 15], 1 / 15))
        video.close(3 / 15)
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert len(list(container.decode(video=0))) == 3


def test_both_encoders_run_at_the_same_constant_quality() -> None:
    nvenc, x264 = encoder_options("h264_nvenc", "veryfast"), encoder_options("libx264", "veryfast")
    assert (nvenc["rc"], nvenc["b"]) == ("vbr", "0")  # constant quality, no bitrate target
    assert nvenc["cq"] == x264["crf"]
    assert (nvenc["forced-idr"], x264["forced-idr"]) == ("1", "1")


def test_the_encoder_is_given_the_clip_frame_rate(tmp_path: Path) -> None:
    with VideoWriter(tmp_path / "out.mp4", 64, 36, keyframe_seconds=2.0, preset="ultrafast",
                     audio=None, frame_rate=Fraction(30000, 1001)) as video:  # fmt: skip
        assert video.video.codec_context.framerate == Fraction(30000, 1001)
        video.close(0.0)
