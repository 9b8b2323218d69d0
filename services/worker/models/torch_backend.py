"""The PyTorch backend: batched inference under `torch.inference_mode`.

CPU: float32 channels_last with the 3x3 convolutions on the Winograd kernel (2.2x oneDNN's
direct float32 per layer) where it builds; bfloat16 instead where the CPU has native bf16
dot products and one bf16 layer measures faster at load; plain float32 otherwise (see
bench/RESULTS.md). CUDA: float16 channels_last. Frames go through in batches bounded by a pixel budget; a
frame larger than the budget alone is cut into overlapping tiles (see `tiling`). Both the
module and the runner are prepared once at load, never inside a job.
"""

import logging
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from services.worker.models.cpu_features import cpu_has_bf16
from services.worker.models.cpu_heap import keep_freed_memory_in_heap
from services.worker.models.frames import check_frames
from services.worker.models.tiling import tile_size_for, upscale_tiled
from services.worker.models.winograd import WinogradKernel, winograd_kernel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Budget:
    """Pixels one forward call may hold (batch x height x width), the tile overlap, the
    padded size of each tile once a frame is over budget (default: the budget), and the
    largest height and width a call may have (a TensorRT engine's range; none in eager)."""

    max_pixels: int
    overlap: int
    max_batch: int = 64
    tile_pixels: int | None = None
    max_height: int | None = None
    max_width: int | None = None

    def needs_tiles(self, height: int, width: int) -> bool:
        """Over the pixel budget, or a side outside the range (a portrait or ultrawide
        frame can be under the budget with one side too long)."""
        return (
            height * width > self.max_pixels
            or height > (self.max_height or height)
            or width > (self.max_width or width)
        )

    @classmethod
    def for_network(cls, architecture: str, device: torch.device) -> "Budget":
        return BUDGETS[device.type, architecture]


# Overlaps cover each net's receptive field at the input (compact: 18 convs -> 18 pixels;
# RRDBNet's is larger, 32 keeps seams below one grey level). The pixel budgets bound
# memory: the compact net keeps ~3 maps of 64 channels at the input size (~120 MB each in
# bfloat16 at 1280x720), RRDBNet maps at 16x the input size, so it tiles far sooner. On the
# CPU one frame per call measured no slower than batches, and once freed maps stay in the
# heap (cpu_heap) a 1280x720 frame took 26-32% longer in ~320x320 tiles and 12% longer in
# ~485x485 tiles than whole, the tiles' overlap being recomputed (bench/RESULTS.md).
BUDGETS = {
    ("cpu", "compact"): Budget(1280 * 736, overlap=20, max_batch=1),
    ("cpu", "rrdb"): Budget(192 * 192, overlap=32, max_batch=1),
    ("cuda", "compact"): Budget(1920 * 1088, overlap=20, max_batch=16),
    ("cuda", "rrdb"): Budget(512 * 512, overlap=32, max_batch=4),
}


@dataclass(frozen=True)
class Placement:
    """Where and how a network runs: device, dtype, activation memory format, and the
    Winograd kernel that takes its 3x3 convolutions (CPU float32 only)."""

    device: torch.device
    dtype: torch.dtype
    memory_format: torch.memory_format
    winograd: WinogradKernel | None = None

    @classmethod
    def best_available(cls, data_dir: Path, width: int) -> "Placement":
        """CUDA float16 when there is a GPU, else the fastest CPU placement for a network of
        `width` feature channels (`cpu_placement`)."""
        if torch.cuda.is_available():
            return cls(torch.device("cuda"), torch.float16, torch.channels_last)
        return cpu_placement(data_dir, width)

    def prepare(self, net: nn.Module) -> nn.Module:
        if self.device.type == "cpu":
            keep_freed_memory_in_heap()  # ~1.25x on the CPU: no page faults per call
        net = net.to(self.device, self.dtype).to(memory_format=self.memory_format).eval()
        if self.winograd is not None:
            swapped = self.winograd.swap_convs(net)
            log.info("event=winograd_convs swapped=%d lanes=%d", swapped, self.winograd.lanes)
        return net


def feature_width(net: nn.Module) -> int:
    """The channels of a network's first convolution: the width its body runs at."""
    return next(m for m in net.modules() if isinstance(m, nn.Conv2d)).out_channels


@lru_cache
def cpu_placement(data_dir: Path, width: int) -> Placement:
    """float32 with the Winograd kernel (built under `data_dir/kernels`), or bfloat16 where
    the CPU has native bf16 dot products and a bf16 layer of `width` channels runs faster
    here, or plain float32 when neither is available. Chosen once per process and width: on
    a Xeon with AMX, bf16 ran the 32-channel student 2.1x faster and the 16-channel one 2.2x
    slower than the kernel (bench/RESULTS.md)."""
    cpu = torch.device("cpu")
    kernel = winograd_kernel(data_dir / "kernels")
    candidates = [Placement(cpu, torch.float32, torch.channels_last, kernel)] if kernel else []
    if cpu_has_bf16():
        candidates.append(Placement(cpu, torch.bfloat16, torch.channels_last))
    if not candidates:
        return Placement(cpu, torch.float32, torch.channels_last)
    if len(candidates) == 1:
        return candidates[0]
    seconds = layer_seconds(candidates, width)
    log.info("event=cpu_placement_race width=%d timings=%s", width, ",".join(
        f"{p.dtype}{'+winograd' if p.winograd else ''}:{s * 1000:.1f}ms" for p, s in seconds.items()
    ))  # fmt: skip
    return min(seconds, key=seconds.__getitem__)


RACE_ROUNDS = 5


def layer_seconds(candidates: list[Placement], width: int) -> dict[Placement, float]:
    """Each placement's best time for one `width`->`width` conv + PReLU on a 256x144 map (the
    capture ladder's floor, where CPU real time is decided): a compact net is a stack of
    these, the rest of a frame costs alike under either. The candidates take turns over
    several rounds so a burst of load from another process cannot decide the race alone.
    (The race that picked bf16 at 2.6 vs 3.5 ms, where whole 256x144 frames took 109 vs
    98 ms, was mostly oneDNN's spinning OpenMP threads slowing the kernel: see
    services/worker/__init__.py.)"""
    layers = {
        p: p.prepare(nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.PReLU(width)))
        for p in candidates
    }
    x = torch.rand(1, width, 144, 256).contiguous(memory_format=torch.channels_last)
    inputs = {p: x.to(p.dtype) for p in candidates}
    best = dict.fromkeys(candidates, float("inf"))
    with torch.inference_mode():
        for p in candidates:
            layers[p](inputs[p])
        for _ in range(RACE_ROUNDS):
            for p in candidates:
                started = time.perf_counter()
                layers[p](inputs[p])
                best[p] = min(best[p], time.perf_counter() - started)
    return best


def check_batch(x: torch.Tensor) -> None:
    """The tensor contract of every backend: NCHW, 3 channels, float in [0, 1]."""
    if x.ndim != 4 or x.shape[1] != 3 or not x.is_floating_point():
        raise ValueError(
            f"expected an NCHW float batch with 3 channels, got {tuple(x.shape)} {x.dtype}"
        )


class TorchUpscaler:
    """An `Upscaler` running a module already placed by `Placement.prepare` (or a compiled
    module taking the same inputs, as the TensorRT backend builds)."""

    def __init__(
        self, module: nn.Module, *, scale: int, name: str, budget: Budget, placement: Placement
    ) -> None:
        self.module = module
        self.scale = scale
        self.name = name
        self.budget = budget
        self.placement = placement

    def run(self, x: torch.Tensor) -> torch.Tensor:
        """NCHW float in [0, 1] -> NCHW float, `scale` times larger, not clamped."""
        check_batch(x)
        with torch.inference_mode():
            p = self.placement
            return self.module(x.to(p.device, p.dtype).contiguous(memory_format=p.memory_format))

    @property
    def device(self) -> torch.device:
        return self.placement.device

    def frames_per_call(self, height: int, width: int) -> int:
        return max(1, min(self.budget.max_batch, self.budget.max_pixels // (height * width)))

    def upscale_batch(self, x: torch.Tensor) -> torch.Tensor:
        """NCHW float in [0, 1] on the device -> NCHW, `scale` times larger, not clamped; in
        calls bounded by the budget, tiled when one frame exceeds it. The enhancement
        wrapper (services.worker.enhance) works on this float path."""
        n, _, h, w = x.shape
        per_call = self.frames_per_call(h, w)
        tiled = self.budget.needs_tiles(h, w)
        pieces = []
        with torch.inference_mode():
            for start in range(0, n, per_call):
                piece = x[start : start + per_call]
                if tiled:
                    tile = tile_size_for(
                        self.budget.tile_pixels or self.budget.max_pixels, self.budget.overlap
                    )
                    pieces.append(
                        upscale_tiled(self.run, piece, self.scale, tile, self.budget.overlap)
                    )
                else:
                    pieces.append(self.run(piece))
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces)

    def upscale(self, frames: np.ndarray) -> np.ndarray:
        check_frames(frames)
        n, h, w, _ = frames.shape
        out = np.empty((n, h * self.scale, w * self.scale, 3), dtype=np.uint8)
        per_call = self.frames_per_call(h, w)
        with torch.inference_mode():
            for start in range(0, n, per_call):
                x = frames_to_batch(frames[start : start + per_call], self.placement.device)
                out[start : start + len(x)] = batch_to_frames(self.upscale_batch(x))
        return out


def frames_to_batch(frames: np.ndarray, device: torch.device) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> NCHW float32 in [0, 1] on `device`. To a GPU the uint8 frames
    go through pinned memory (one DMA, no staging copy) and become float there."""
    host = torch.from_numpy(frames)
    if device.type == "cuda":
        host = host.pin_memory()
    return host.to(device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255)


def batch_to_frames(y: torch.Tensor) -> np.ndarray:
    """NCHW float in [0, 1] (overshoot clipped) -> (N, H, W, 3) uint8 on the CPU. The
    frames are made contiguous on the device, so the download is one dense copy (into
    pinned memory from a GPU) rather than a strided gather."""
    frames = y.float().mul_(255).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
    frames = frames.contiguous()
    if frames.device.type == "cpu":
        return frames.numpy()
    host = torch.empty(frames.shape, dtype=torch.uint8, pin_memory=True)
    host.copy_(frames, non_blocking=True)
    torch.cuda.current_stream(frames.device).synchronize()
    return host.numpy()
