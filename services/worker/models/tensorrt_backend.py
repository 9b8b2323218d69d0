"""The TensorRT backend: the network compiled by torch-tensorrt (dynamo, fp16) with dynamic
batch, height and width, kept in the engine cache (`engine_cache`) and reloaded next time.

Each network gets a shape range of its own, sized to the card: its widest feature maps at
the largest batch and frame must fit in a share of the GPU's memory (RRDBNet holds
64-channel maps at 16x the input area, so it gets far less than the compact net). Frames
with a side outside the range are tiled. Building takes minutes, so it happens at load
(worker start or `sharpr prepare`), never inside a job, and never under inference mode,
where torch.export cannot trace. Written against torch-tensorrt 2.13's API
(`torch_tensorrt.compile`, `Input`, `save`; `torch.export.load`); needs the `[gpu]` extra.
"""

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from services.worker.models.catalog import ModelSpec
from services.worker.models.engine_cache import build_or_load, engine_path, network_digest
from services.worker.models.torch_backend import Budget, Placement, TorchUpscaler

CUDA = torch.device("cuda")
ENGINE_DTYPE = torch.half
# The largest call any engine takes: 8 frames of 1920x1088 (16-pixel steps).
FRAME_LIMIT = (8, 1088, 1920)
# Share of the card one call's activations may use: the rest is the weights, TensorRT's
# workspace, the upscaled frames on their way out and a second worker on the same GPU.
ENGINE_MEMORY_SHARE = 0.25
# Where each architecture's widest maps live, as a multiple of the input area, and how
# many of them are alive at once.
ACTIVATION_AREA = {"compact": 1, "rrdb": 16}
LIVE_MAPS = 4


@dataclass(frozen=True)
class ShapeRange:
    """The (batch, height, width) an engine accepts: min, the size it is tuned for, max."""

    min: tuple[int, int, int]
    opt: tuple[int, int, int]
    max: tuple[int, int, int]

    def inputs(self) -> list:
        import torch_tensorrt

        def nchw(shape: tuple[int, int, int]) -> tuple[int, int, int, int]:
            return (shape[0], 3, shape[1], shape[2])

        return [
            torch_tensorrt.Input(
                min_shape=nchw(self.min), opt_shape=nchw(self.opt), max_shape=nchw(self.max),
                dtype=ENGINE_DTYPE,
            )
        ]  # fmt: skip


def activation_bytes_per_pixel(net: nn.Module, architecture: str) -> int:
    """Bytes of live feature maps per input pixel in fp16, from the network's widest conv."""
    widest = max(m.out_channels for m in net.modules() if isinstance(m, nn.Conv2d))
    return widest * ACTIVATION_AREA[architecture] * LIVE_MAPS * torch.finfo(ENGINE_DTYPE).bits // 8


def shape_range(net: nn.Module, architecture: str, card_bytes: int) -> ShapeRange:
    """The largest range whose maximum call fits `ENGINE_MEMORY_SHARE` of the card: whole
    1920x1088 frames and as many per call as fit, else square tiles of the side that fits."""
    pixels = int(card_bytes * ENGINE_MEMORY_SHARE) // activation_bytes_per_pixel(net, architecture)
    limit_batch, height, width = FRAME_LIMIT
    if pixels < height * width:
        height = width = max(64, min(height, math.isqrt(pixels) // 16 * 16))
    batch = max(1, min(limit_batch, pixels // (height * width)))
    opt = (min(4, batch), min(360, height), min(640, width))
    return ShapeRange(min=(1, 16, 16), opt=opt, max=(batch, height, width))


def compile_options(data_dir: Path) -> dict[str, Any]:
    """What `torch_tensorrt.compile` is given besides the module and inputs. The timing
    cache sits beside the engines, so a rebuild (another scale, a new version) reuses the
    kernel timings instead of measuring them again."""
    return {
        "ir": "dynamo",
        "enabled_precisions": {ENGINE_DTYPE},
        "timing_cache_path": str(data_dir / "engines" / "timing_cache.bin"),
    }


def tensorrt_upscaler(net: nn.Module, spec: ModelSpec, data_dir: Path) -> TorchUpscaler:
    """`net` (float32, CPU) as an engine from the cache or freshly built, with a budget
    that keeps every call and tile inside the engine's range."""
    import torch_tensorrt

    shapes = shape_range(net, spec.architecture.name, torch.cuda.get_device_properties(CUDA).total_memory)
    options = compile_options(data_dir)
    identity = {
        "model": spec.key, "architecture": spec.architecture.name, "network": network_digest(net),
        "dtype": str(ENGINE_DTYPE), "shapes": repr(shapes),
        # The timing cache speeds a build up but does not change the engine.
        "options": repr(sorted((k, repr(v)) for k, v in options.items() if k != "timing_cache_path")),
    }  # fmt: skip

    def build() -> nn.Module:
        with torch.inference_mode(False):
            placed = net.to(CUDA, ENGINE_DTYPE).eval()
            return torch_tensorrt.compile(placed, inputs=shapes.inputs(), **options)

    def save(module: nn.Module, path: Path) -> None:
        torch_tensorrt.save(module, str(path), arg_inputs=shapes.inputs())

    module = build_or_load(engine_path(spec.key, identity, data_dir), build, save)
    batch, height, width = shapes.max
    overlap = Budget.for_network(spec.architecture.name, CUDA).overlap
    budget = Budget(
        batch * height * width, overlap=overlap, max_batch=batch,
        tile_pixels=min(height, width) ** 2, max_height=height, max_width=width,
    )  # fmt: skip
    placement = Placement(CUDA, ENGINE_DTYPE, torch.contiguous_format)
    return TorchUpscaler(
        module, scale=spec.scale, name=f"{spec.key}-tensorrt", budget=budget, placement=placement
    )
