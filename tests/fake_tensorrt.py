"""A stand-in for a GPU with `torch_tensorrt`, which this machine cannot have.

It records what it is asked to compile and save; the engine it "builds" upscales by
nearest neighbour and, like a TensorRT engine, refuses a shape outside its `Input` range.
`save` writes a real torch.export file (of the nearest upscale), so the real
`torch.export.load` reads it back. CUDA is the CPU here: the backend's device, and the
placement of CUDA PyTorch. Everything else (weights, networks, PyAV, Redis) is real.
"""

import sys
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from services.worker.models import selection, tensorrt_backend
from services.worker.models.torch_backend import Placement, cpu_placement

CARD_BYTES = 80 * 10**9  # an H100's memory


@dataclass
class Input:
    min_shape: tuple[int, ...]
    opt_shape: tuple[int, ...]
    max_shape: tuple[int, ...]
    dtype: torch.dtype


class Nearest(nn.Module):
    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x.float(), scale_factor=self.scale, mode="nearest")


class StandInEngine(Nearest):
    def __init__(self, scale: int, shapes: Input) -> None:
        super().__init__(scale)
        self.shapes = shapes
        self.calls: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low, high = self.shapes.min_shape, self.shapes.max_shape
        if any(not lo <= n <= hi for lo, n, hi in zip(low, x.shape, high, strict=True)):
            raise ValueError(f"shape {tuple(x.shape)} outside the engine's range {low}..{high}")
        self.calls.append(tuple(x.shape))
        return super().forward(x)


@dataclass
class FakeTensorrt:
    """What was asked of torch_tensorrt; `fail_compile` makes every build raise, and
    `build_seconds` makes each take that long."""

    compiled: list[dict[str, Any]] = field(default_factory=list)
    saved: list[Path] = field(default_factory=list)
    fail_compile: bool = False
    build_seconds: float = 0.0

    def module(self) -> types.ModuleType:
        module = types.ModuleType("torch_tensorrt")
        module.Input = Input
        module.compile = self.compile
        module.save = self.save
        return module

    def compile(self, net: nn.Module, *, inputs: list[Input], **options: Any) -> nn.Module:
        self.compiled.append({
            "net": net, "inputs": inputs, "options": options,
            "inference_mode": torch.is_inference_mode_enabled(),
        })  # fmt: skip
        if self.fail_compile:
            raise RuntimeError("stand-in TensorRT build failure")
        if self.build_seconds:
            time.sleep(self.build_seconds)  # long enough for another process to arrive
        # the resized teachers say their output scale; a native student (SRVGGNetCompact) its upscale
        return StandInEngine(getattr(net, "scale", None) or net.upscale, inputs[0])

    def save(self, engine: nn.Module, path: str, *, arg_inputs: list[Input]) -> None:
        self.saved.append(Path(path))
        dims = {i: torch.export.Dim.AUTO for i in (0, 2, 3)}
        example = torch.zeros(arg_inputs[0].opt_shape, dtype=arg_inputs[0].dtype)
        exported = torch.export.export(Nearest(engine.scale), (example,), dynamic_shapes=(dims,))
        torch.export.save(exported, path)

    @property
    def max_shapes(self) -> list[tuple[int, ...]]:
        return [call["inputs"][0].max_shape for call in self.compiled]


def install(fake: FakeTensorrt, patch: pytest.MonkeyPatch) -> None:
    """Put the stand-in GPU and torch_tensorrt in place (undone by `patch.undo()`)."""
    patch.setitem(sys.modules, "torch_tensorrt", fake.module())
    patch.setattr(torch.cuda, "is_available", lambda: True)
    patch.setattr(torch.cuda, "get_device_name", lambda device=None: "Stand-in H100")
    patch.setattr(torch.cuda, "get_device_properties",
                  lambda device=None: types.SimpleNamespace(total_memory=CARD_BYTES))  # fmt: skip
    patch.setattr(tensorrt_backend, "CUDA", torch.device("cpu"))
    patch.setattr(Placement, "best_available", classmethod(lambda cls, d, width: cpu_placement(d, width)))
    patch.setattr(selection, "_failed_in_process", [])
    selection.tensorrt_import_error.cache_clear()
