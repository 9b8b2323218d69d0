"""The TensorRT backend: the network compiled by torch-tensorrt (dynamo, fp16) with dynamic
batch, height and width, the engine saved under `data_dir/engines` and reloaded next time.

The cache key names the model, the shape range, the GPU and the torch / torch-tensorrt /
TensorRT versions, since an engine only runs where it was built. Building takes minutes,
so it happens at load (worker start), never inside a job; frames outside the shape range
are tiled. Written against torch-tensorrt's documented API (`torch_tensorrt.compile`,
`torch_tensorrt.Input`, `torch_tensorrt.save`, `torch.export.load`); needs the `[gpu]` extra.
"""

import hashlib
import importlib.metadata
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from services.worker.models.catalog import ModelSpec
from services.worker.models.torch_backend import Budget, Placement, TorchUpscaler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShapeRange:
    """The (batch, height, width) an engine accepts: min, the size it is tuned for, max."""

    min: tuple[int, int, int] = (1, 16, 16)
    opt: tuple[int, int, int] = (4, 360, 640)
    max: tuple[int, int, int] = (8, 1088, 1920)

    def inputs(self) -> list:
        import torch_tensorrt

        def nchw(shape: tuple[int, int, int]) -> tuple[int, int, int, int]:
            return (shape[0], 3, shape[1], shape[2])

        return [
            torch_tensorrt.Input(
                min_shape=nchw(self.min), opt_shape=nchw(self.opt), max_shape=nchw(self.max),
                dtype=torch.half,
            )
        ]  # fmt: skip


def engine_path(spec: ModelSpec, shapes: ShapeRange, data_dir: Path) -> Path:
    versions = {name: _version(name) for name in ("torch", "torch_tensorrt", "tensorrt")}
    identity = f"{spec.key}|{shapes}|{torch.cuda.get_device_name()}|{sorted(versions.items())}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return data_dir / "engines" / f"{spec.key}-{digest}.ep"


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution.replace("_", "-"))
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def build_or_load_engine(
    net: nn.Module, spec: ModelSpec, shapes: ShapeRange, data_dir: Path
) -> nn.Module:
    """The compiled module, from the engine cache or freshly built and then cached."""
    import torch_tensorrt

    path = engine_path(spec, shapes, data_dir)
    if path.exists():
        log.info("event=tensorrt_engine_loading model=%s path=%s", spec.key, path)
        return torch.export.load(str(path)).module()
    log.info(
        "event=tensorrt_engine_building model=%s shapes=%r note=minutes_once_per_gpu", spec.key, shapes
    )
    started = time.monotonic()
    inputs = shapes.inputs()
    compiled = torch_tensorrt.compile(
        net.cuda().half().eval(), ir="dynamo", inputs=inputs, enabled_precisions={torch.half},
    )  # fmt: skip
    log.info("event=tensorrt_engine_built model=%s seconds=%.0f", spec.key, time.monotonic() - started)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.ep")
    torch_tensorrt.save(compiled, str(partial), arg_inputs=inputs)
    partial.replace(path)
    return compiled


def tensorrt_upscaler(
    net: nn.Module, spec: ModelSpec, data_dir: Path, shapes: ShapeRange = ShapeRange()
) -> TorchUpscaler:
    placement = Placement(torch.device("cuda"), torch.float16, torch.contiguous_format)
    module = build_or_load_engine(net, spec, shapes, data_dir)
    batch, height, width = shapes.max
    # Tiles must stay inside the engine's height/width range: budget one max-size frame.
    overlap = Budget.for_network(spec.architecture.name, placement.device).overlap
    budget = Budget(min(height, width) ** 2, overlap=overlap, max_batch=batch)
    return TorchUpscaler(
        module, scale=spec.scale, name=f"{spec.key}-tensorrt", budget=budget, placement=placement
    )
