"""The frame contract every upscaler keeps, the networks' backends and the worker's
wrappers alike: a batch of frames is a uint8 RGB array shaped (N, H, W, 3)."""

import numpy as np


def check_frames(frames: np.ndarray) -> None:
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected (N, H, W, 3) uint8 frames, got {frames.shape} {frames.dtype}")
