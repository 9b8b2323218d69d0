"""`sharpr upscale` on a real clip, as a user runs it: the installed CLI, the real model."""

import subprocess
from pathlib import Path

import av
import pytest

from services.core import localservers
from tests.media import write_clip


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    path = tmp_path / "in.webm"
    write_clip(path, seconds=1.0, width=48, height=32, fps=10)
    return path


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = localservers.child_env({"SHARPR_DATA_DIR": str(tmp_path / "data")})
    return subprocess.run(localservers.python_command("upscale", *args), env=env,
                          check=False, capture_output=True, text=True, timeout=240)


def test_upscale_writes_an_mp4_twice_the_size_with_its_audio(tmp_path, clip):
    output = tmp_path / "out.mp4"
    result = run_cli(tmp_path, str(clip), str(output), "--mode", "anime", "--scale", "2")
    assert result.returncode == 0, result.stderr
    with av.open(str(output)) as container:
        assert container.streams.audio, "the audio track is kept"
        frames = list(container.decode(video=0))
    assert len(frames) == 10
    assert (frames[0].width, frames[0].height) == (96, 64)
    assert "realesr-animevideov3" in result.stderr  # the model, not the resize fallback


def test_upscale_to_a_directory_writes_lossless_png_frames(tmp_path, clip):
    frames_dir = tmp_path / "frames"
    frames_dir.mkdir()
    result = run_cli(tmp_path, str(clip), str(frames_dir), "--scale", "2")
    assert result.returncode == 0, result.stderr
    pngs = sorted(frames_dir.glob("*.png"))
    assert len(pngs) == 10
    with av.open(str(pngs[0])) as image:
        frame = next(image.decode(video=0))
    assert (frame.width, frame.height) == (96, 64)


def test_upscale_of_a_file_that_is_not_a_video_fails_with_a_message(tmp_path):
    bogus = tmp_path / "notes.webm"
    bogus.write_text("not a video")
    result = run_cli(tmp_path, str(bogus), str(tmp_path / "out.mp4"))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "not a readable video" in result.stderr or "not a video" in result.stderr
