"""Which inference backend a worker uses: `settings.backend` = auto | torch | tensorrt.

auto picks TensorRT only when CUDA is usable and torch_tensorrt really imports: a wheel
that is installed but cannot load its libraries (a TensorRT or driver mismatch) is as good
as absent, so `find_spec` alone does not decide. Once TensorRT has failed in this process
(an import or an engine build), auto stays on CUDA PyTorch instead of trying again per
clip. Asking for TensorRT where it cannot run is a configuration error, reported at load,
not a silent fall back to the CPU.
"""

import importlib
import logging
from functools import lru_cache
from typing import Literal

import torch

from services.core.errors import Unavailable

log = logging.getLogger(__name__)

Backend = Literal["torch", "tensorrt"]

_failed_in_process: list[str] = []  # why TensorRT failed here, once it has


@lru_cache(maxsize=1)
def tensorrt_import_error() -> str | None:
    """Why `torch_tensorrt` cannot be imported here, or None; tried (and logged) once per
    process."""
    try:
        importlib.import_module("torch_tensorrt")
    except Exception as error:  # noqa: BLE001 - ImportError, or OSError from a library that will not load
        log.error("event=tensorrt_import_failed error=%r", f"{type(error).__name__}: {error}")
        return f"{type(error).__name__}: {error}"
    return None


def tensorrt_failed(reason: str) -> None:
    """Record that TensorRT failed at run time, so auto chooses CUDA PyTorch from now on."""
    _failed_in_process.append(reason)


def tensorrt_usable() -> bool:
    return (
        torch.cuda.is_available() and not _failed_in_process and tensorrt_import_error() is None
    )


def choose_backend(requested: str) -> Backend:
    if requested == "torch":
        return "torch"
    if requested == "tensorrt":
        if not torch.cuda.is_available():
            raise Unavailable(
                "SHARPR_BACKEND=tensorrt but no CUDA device is visible", code="backend_unavailable"
            )
        if (error := tensorrt_import_error()) is not None:
            raise Unavailable(
                f"SHARPR_BACKEND=tensorrt but torch_tensorrt does not import ({error}; "
                "pip install sharpr[gpu] with the matching CUDA torch)",
                code="backend_unavailable",
            )
        return "tensorrt"
    if requested == "auto":
        return "tensorrt" if tensorrt_usable() else "torch"
    raise ValueError(f"unknown backend {requested!r}; expected auto, torch or tensorrt")
