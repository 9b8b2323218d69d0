"""Which inference backend a worker uses: `settings.backend` = auto | torch | tensorrt.

auto picks TensorRT only when CUDA is usable and torch_tensorrt imports; asking for
TensorRT where it cannot run is a configuration error, reported at load, not a silent
fall back to the CPU.
"""

import importlib.util
from typing import Literal

import torch

from services.core.errors import Unavailable

Backend = Literal["torch", "tensorrt"]


def tensorrt_usable() -> bool:
    return torch.cuda.is_available() and importlib.util.find_spec("torch_tensorrt") is not None


def choose_backend(requested: str) -> Backend:
    if requested == "torch":
        return "torch"
    if requested == "tensorrt":
        if not torch.cuda.is_available():
            raise Unavailable(
                "SHARPR_BACKEND=tensorrt but no CUDA device is visible", code="backend_unavailable"
            )
        if importlib.util.find_spec("torch_tensorrt") is None:
            raise Unavailable(
                "SHARPR_BACKEND=tensorrt but torch_tensorrt is not installed "
                "(pip install sharpr[gpu])",
                code="backend_unavailable",
            )
        return "tensorrt"
    if requested == "auto":
        return "tensorrt" if tensorrt_usable() else "torch"
    raise ValueError(f"unknown backend {requested!r}; expected auto, torch or tensorrt")
