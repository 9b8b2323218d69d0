"""The `Upscaler` seam: a batch of frames in, the same frames `scale` times larger out.

Frames are uint8 RGB arrays shaped (N, H, W, 3). The neural backends in
`services.worker.models` and the plain resize below all satisfy it; the resize stays as
the fallback for clips the model cannot process.
"""

from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F


class Upscaler(Protocol):
    scale: int
    name: str

    def upscale(self, frames: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 -> (N, H*scale, W*scale, 3) uint8."""
        ...


class ResizeUpscaler:
    """Bicubic resize (antialiased), the baseline every model is compared against."""

    name = "bicubic"

    def __init__(self, scale: int) -> None:
        self.scale = scale

    def upscale(self, frames: np.ndarray) -> np.ndarray:
        check_frames(frames)
        with torch.inference_mode():
            batch = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
            out = F.interpolate(batch, scale_factor=self.scale, mode="bicubic", align_corners=False)
            return out.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def check_frames(frames: np.ndarray) -> None:
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected (N, H, W, 3) uint8 frames, got {frames.shape} {frames.dtype}")


def fit_frames(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    """`frames` at `width` x `height`: resized bicubically (antialiased when shrinking),
    keeping their aspect; a different aspect is centred on black rather than stretched."""
    n, h, w, _ = frames.shape
    if (h, w) == (height, width):
        return frames
    factor = min(width / w, height / h)
    inner_w, inner_h = min(width, round(w * factor)), min(height, round(h * factor))
    with torch.inference_mode():
        batch = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
        resized = F.interpolate(batch, size=(inner_h, inner_w), mode="bicubic", align_corners=False,
                                antialias=factor < 1)
        out = torch.zeros((n, 3, height, width), dtype=torch.uint8)
        top, left = (height - inner_h) // 2, (width - inner_w) // 2
        out[:, :, top : top + inner_h, left : left + inner_w] = resized.round_().clamp_(0, 255).to(torch.uint8)
        return out.permute(0, 2, 3, 1).contiguous().numpy()
