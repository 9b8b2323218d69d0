"""`sharpr upscale` on a real clip, as a user runs it: the installed CLI, the real model."""

import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from services.core import localservers
from tests.media import moving_pattern, write_clip


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


@pytest.mark.parametrize(("mode", "tier", "scale", "model"), [
    ("anime", "fast", "2", "sharpr-anime-fast-x2"),
    ("live_action", "balanced", "2", "sharpr-live_action-balanced-x2"),
    ("anime", "fast", "3", "realesr-animevideov3-x3"),  # no distilled x3: the teacher
])
def test_upscale_runs_the_network_of_the_tier_asked_for(tmp_path, clip, mode, tier, scale, model):
    output = tmp_path / "out.mp4"
    result = run_cli(tmp_path, str(clip), str(output), "--mode", mode, "--tier", tier, "--scale", scale)
    assert result.returncode == 0, result.stderr
    with av.open(str(output)) as container:
        first = next(container.decode(video=0))
    assert (first.width, first.height) == (48 * int(scale), 32 * int(scale))
    assert f"{model}-torch" in result.stderr


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


def png_frames(directory: Path) -> np.ndarray:
    frames = []
    for png in sorted(directory.glob("*.png")):
        with av.open(str(png)) as image:
            frames.append(next(image.decode(video=0)).to_ndarray(format="rgb24"))
    return np.stack(frames)


def upscale_to_pngs(tmp_path: Path, clip: Path, name: str, *options: str) -> tuple[np.ndarray, str]:
    """The clip's upscaled frames (lossless, so outputs compare exactly) and the CLI's stderr."""
    frames_dir = tmp_path / name
    frames_dir.mkdir()
    result = run_cli(tmp_path, str(clip), str(frames_dir), "--scale", "2", *options)
    assert result.returncode == 0, result.stderr
    return png_frames(frames_dir), result.stderr


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two frame stacks, in 8-bit levels."""
    return float(np.abs(a.astype(int) - b.astype(int)).mean())


def dark_pattern(index: int, width: int, height: int) -> np.ndarray:
    """The test pattern at a sixth of its brightness: a night scene for the dim-scene lift."""
    return moving_pattern(index, width, height) // 6


def test_upscale_options_apply_the_colour_vision_filter_and_the_dim_lift(tmp_path):
    dark = tmp_path / "dark.webm"
    write_clip(dark, seconds=1.0, width=48, height=32, fps=10, draw=dark_pattern)
    plain, _ = upscale_to_pngs(tmp_path, dark, "plain")

    graded, stderr = upscale_to_pngs(tmp_path, dark, "graded", "--color-vision", "protanopia")
    assert graded.shape == plain.shape == (10, 64, 96, 3)
    assert not np.array_equal(graded, plain)
    assert "realesr-animevideov3-x2" in stderr and "+protanopia-1" in stderr  # model, then filter

    half, stderr = upscale_to_pngs(tmp_path, dark, "half", "--color-vision", "protanopia",
                                   "--color-vision-strength", "0.5")
    assert "+protanopia-0.5" in stderr
    # Half strength lands between none and full.
    assert 0 < distance(half, plain) < distance(graded, plain)

    lifted, stderr = upscale_to_pngs(tmp_path, dark, "lifted", "--dim-lift")
    assert "+dim-lift" in stderr
    assert not np.array_equal(lifted, plain)
    # The lift is undone after the model: the scene stays a night scene.
    assert abs(lifted.mean() - plain.mean()) < 0.1 * plain.mean()


@pytest.mark.parametrize(("strength", "reason"), [
    ("1.5", "less than or equal to 1"),
    ("-0.1", "greater than or equal to 0"),
    ("strong", "a valid number"),
])
def test_upscale_refuses_a_colour_vision_strength_outside_0_to_1_with_a_message(
    tmp_path, clip, strength, reason
):
    result = run_cli(tmp_path, str(clip), str(tmp_path / "out.mp4"), "--color-vision", "protanopia",
                     "--color-vision-strength", strength)
    assert result.returncode == 2  # argparse's usage error, before any model loads
    assert "Traceback" not in result.stderr
    assert f"argument --color-vision-strength: input should be {reason}" in result.stderr
    assert not (tmp_path / "out.mp4").exists()
