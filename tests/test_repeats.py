"""Repeated-frame skipping: which frames count as repeats, and what the model is spared."""

from itertools import pairwise
from pathlib import Path

import av
import numpy as np
import pytest

from services.core.schemas import Enhancement, Mode
from services.core.settings import Settings
from services.worker.pipeline import transcode
from services.worker.repeats import RepeatDetector, SkippingUpscaler, block_means
from services.worker.upscaler import ResizeUpscaler, load_upscaler
from tests.media import drawn_on_twos, write_clip
from tests.patterns import natural_frame, psnr

THRESHOLD = Settings().repeated_frame_threshold


class CountingResize(ResizeUpscaler):
    """The plain resize, counting the frames it is given."""

    def __init__(self, scale: int) -> None:
        super().__init__(scale)
        self.seen = 0

    def upscale(self, frames: np.ndarray) -> np.ndarray:
        self.seen += len(frames)
        return super().upscale(frames)


def decoded(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def animation(tmp_path: Path, suffix: str, width: int = 160, height: int = 90) -> np.ndarray:
    path = tmp_path / f"anim{suffix}"
    write_clip(path, seconds=2, width=width, height=height, fps=24, audio=False, draw=drawn_on_twos)
    return decoded(path)


def test_block_means_cover_partial_edge_blocks():
    frame = np.zeros((12, 20, 3), np.uint8)
    frame[8:, 16:] = 200  # the corner block is 4x4 pixels, all of them lit
    means = block_means(frame)
    assert means.shape == (2, 3, 3)
    assert means[1, 2, 0] == 200 and means[0, 0, 0] == 0


def test_held_pictures_of_an_h264_animation_are_repeats_and_new_ones_are_not(tmp_path):
    frames = animation(tmp_path, ".mp4")
    detector = RepeatDetector(THRESHOLD)
    repeats = [detector.is_repeat(frame) for frame in frames]
    # Frame 2k is a new picture, 2k+1 the same picture again, through the codec's noise.
    assert repeats[0::2] == [False] * len(repeats[0::2])
    assert repeats[1::2] == [True] * len(repeats[1::2])


def test_new_pictures_of_a_vp8_animation_are_never_repeats(tmp_path):
    frames = animation(tmp_path, ".webm")
    detector = RepeatDetector(THRESHOLD)
    repeats = [detector.is_repeat(frame) for frame in frames]
    assert not any(repeats[0::2])
    assert sum(repeats[1::2]) >= len(repeats[1::2]) // 2  # VP8's noise hides some holds


def test_a_cursor_a_few_pixels_wide_is_a_change():
    still = natural_frame(90, 160, seed=3)
    cursor = still.copy()
    cursor[40:48, 80] = 255 - cursor[40:48, 80]
    detector = RepeatDetector(THRESHOLD)
    assert [detector.is_repeat(still), detector.is_repeat(cursor)] == [False, False]


def test_a_slow_fade_is_compared_with_the_last_frame_the_model_ran_on():
    base = np.full((32, 32, 3), 100, np.uint8)
    detector = RepeatDetector(THRESHOLD)
    steps = [detector.is_repeat(base + step) for step in range(12)]  # one level per frame
    # Each step is one level from the one before, yet the frame is re-run once it drifts
    # past the threshold from the last model-run frame.
    new = [step for step, repeat in enumerate(steps) if not repeat]
    assert new[0] == 0 and len(new) >= 2
    assert all(b - a <= THRESHOLD + 1 for a, b in pairwise(new))


def test_a_repeat_reuses_its_predecessors_output_in_the_same_batch_and_across_batches():
    one, two, three = (natural_frame(24, 32, seed) for seed in (1, 2, 3))
    inner = CountingResize(2)
    upscaler = SkippingUpscaler(inner, THRESHOLD)
    first = upscaler.upscale(np.stack([one, one, two, two]))
    second = upscaler.upscale(np.stack([two, three]))
    assert inner.seen == 3 and upscaler.skipped == 3
    expected = ResizeUpscaler(2).upscale(np.stack([one, two, three]))
    assert np.array_equal(first, expected[[0, 0, 1, 1]])
    assert np.array_equal(second, expected[[1, 2]])


@pytest.fixture(scope="module")
def model_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("data"), backend="torch")


def test_skipped_frames_match_the_model_within_40_db_and_spare_it_half_the_frames(model_settings, tmp_path):
    frames = animation(tmp_path, ".mp4", width=96, height=54)
    model = load_upscaler(Enhancement(mode=Mode.anime, scale=2), model_settings)
    counted = CountingResize(2)  # the same batches through a counter, to see what ran
    skipping, counting = SkippingUpscaler(model, THRESHOLD), SkippingUpscaler(counted, THRESHOLD)
    reused, full = [], []
    for start in range(0, len(frames), 4):
        batch = frames[start : start + 4]
        reused.append(skipping.upscale(batch))
        counting.upscale(batch)
        full.append(model.upscale(batch))
    reused_frames, full_frames = np.concatenate(reused), np.concatenate(full)
    assert counted.seen <= 0.7 * len(frames)
    skipped = list(range(1, len(frames), 2))
    assert skipping.skipped == len(skipped)
    worst = min(psnr(reused_frames[i], full_frames[i]) for i in skipped)
    assert worst >= 40, worst


def test_transcode_counts_skipped_frames_and_the_setting_turns_skipping_off(settings, tmp_path):
    clip = tmp_path / "anim.mp4"
    frames = write_clip(clip, seconds=1, width=64, height=36, fps=12, draw=drawn_on_twos)
    skipped = transcode(clip, tmp_path / "on.mp4", ResizeUpscaler(2), settings)
    assert skipped.frames == frames and skipped.frames_skipped == frames // 2
    off = settings.model_copy(update={"skip_repeated_frames": False})
    assert transcode(clip, tmp_path / "off.mp4", ResizeUpscaler(2), off).frames_skipped == 0
