"""The PyTorch backend: float32 on the CPU, float16 on CUDA, channels_last, batched.

Frames go through in batches bounded by a pixel budget; a frame larger than the budget
alone is cut into overlapping tiles (see `tiling`). The network is prepared once at load
(`prepare`), never inside a job.
"""

import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from services.worker.models.tiling import tile_size_for, upscale_tiled
from services.worker.upscaler import check_frames

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Budget:
    """Pixels one forward call may hold (batch x height x width) and the tile overlap."""

    max_pixels: int
    overlap: int


def check_batch(x: torch.Tensor) -> None:
    """The tensor contract of every backend: NCHW, 3 channels, float in [0, 1]."""
    if x.ndim != 4 or x.shape[1] != 3 or not x.is_floating_point():
        raise ValueError(f"expected an NCHW float batch with 3 channels, got {tuple(x.shape)} {x.dtype}")


class TorchUpscaler:
    """An `Upscaler` running an `nn.Module` with PyTorch."""

    def __init__(
        self, net: nn.Module, *, scale: int, name: str, budget: Budget,
        device: torch.device | None = None, dtype: torch.dtype | None = None,
    ) -> None:  # fmt: skip
        self.device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.dtype = dtype or (torch.float16 if self.device.type == "cuda" else torch.float32)
        self.scale = scale
        self.name = name
        self.budget = budget
        self.net = net.to(self.device, self.dtype).to(memory_format=torch.channels_last).eval()

    def run(self, x: torch.Tensor) -> torch.Tensor:
        """NCHW float in [0, 1] -> NCHW float, `scale` times larger, not clamped."""
        check_batch(x)
        with torch.inference_mode():
            return self.net(x.to(self.device, self.dtype).contiguous(memory_format=torch.channels_last))

    def upscale(self, frames: np.ndarray) -> np.ndarray:
        check_frames(frames)
        n, h, w, _ = frames.shape
        out = np.empty((n, h * self.scale, w * self.scale, 3), dtype=np.uint8)
        per_call = max(1, self.budget.max_pixels // (h * w))
        tiled = h * w > self.budget.max_pixels
        with torch.inference_mode():
            for start in range(0, n, per_call):
                batch = torch.from_numpy(frames[start : start + per_call]).to(self.device)
                x = batch.permute(0, 3, 1, 2).to(self.dtype).div_(255)
                if tiled:
                    tile = tile_size_for(self.budget.max_pixels, self.budget.overlap)
                    y = upscale_tiled(self.run, x, self.scale, tile, self.budget.overlap)
                else:
                    y = self.run(x)
                pixels = y.float().mul_(255).round_().clamp_(0, 255).to(torch.uint8)
                out[start : start + len(batch)] = pixels.permute(0, 2, 3, 1).cpu().numpy()
        return out
