"""Finds frames that repeat the one before, so the model runs once per distinct picture.

Animation is drawn on twos and threes, slides and lectures hold still for seconds; once
encoded, a held picture comes back as NEAR-identical frames (the codec's noise differs),
never as equal bytes, so equality is no test.

The measure: the largest change of any 8x8 block's mean, over the three channels, in
levels of 0-255. Block means average the codec's noise away (it is small and
high-frequency), while any real change - motion, a blinking cursor a few pixels wide - moves
at least one block mean by several levels; the maximum, not the average over the frame,
so a small local change is never diluted by a still background. It costs one pass over
the frame, far less than SSIM and nothing beside the model. The default threshold
(`repeated_frame_threshold`) sits above the noise H.264 leaves between the frames of a
held picture and below what a few pixels of real change move; tests/test_repeats.py
checks both, and that a reused output stays within 40 dB PSNR of the model's own.

Each frame is compared with the last frame the model actually ran on, not merely the one
before it: a slow fade made of steps each under the threshold would otherwise creep
through as a chain of skips and freeze the picture.
"""

import numpy as np

from services.worker.models.frames import check_frames
from services.worker.upscaler import Upscaler

BLOCK = 8


def block_means(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (ceil(H/8), ceil(W/8), 3) float32 means; edge blocks may be smaller."""
    height, width = frame.shape[:2]
    rows, cols = np.arange(0, height, BLOCK), np.arange(0, width, BLOCK)
    # Eight rows of uint8 fit uint16, which halves the memory the first pass moves.
    rows_summed = np.add.reduceat(frame, rows, axis=0, dtype=np.uint16)
    sums = np.add.reduceat(rows_summed, cols, axis=1, dtype=np.uint32)
    counts = np.outer(np.diff(rows, append=height), np.diff(cols, append=width))
    return sums.astype(np.float32) / counts[..., None]


class RepeatDetector:
    """Marks each frame of a clip as new (the model runs) or a repeat of the last new one."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.reference: np.ndarray | None = None  # block means of the last new frame

    def is_repeat(self, frame: np.ndarray) -> bool:
        means = block_means(frame)
        if (
            self.reference is not None
            and self.reference.shape == means.shape
            and float(np.abs(means - self.reference).max()) <= self.threshold
        ):
            return True
        self.reference = means
        return False


class SkippingUpscaler:
    """An `Upscaler` that runs the model only on new frames and repeats its last output.

    Frames arrive in batches; a repeat reuses its reference's OUTPUT whether that frame
    was in an earlier batch or earlier in the same one. One instance serves one clip.
    """

    def __init__(self, inner: Upscaler, threshold: float) -> None:
        self.inner = inner
        self.scale, self.name = inner.scale, inner.name
        self.detector = RepeatDetector(threshold)
        self.last_output: np.ndarray | None = None
        self.skipped = 0

    def upscale(self, frames: np.ndarray) -> np.ndarray:
        check_frames(frames)
        repeats = [self.detector.is_repeat(frame) for frame in frames]
        new = [index for index, repeat in enumerate(repeats) if not repeat]
        made = iter(self.inner.upscale(frames[new]) if new else ())
        result: list[np.ndarray] = []
        for repeat in repeats:
            if not repeat:  # a clip's first frame never repeats, so last_output is set
                self.last_output = next(made)
            result.append(self.last_output)
        self.skipped += len(repeats) - len(new)
        return np.stack(result)
