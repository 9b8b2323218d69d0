"""The TensorRT engine cache under `data_dir/engines`: which file holds an engine, and
getting it built or loaded when many processes share one cache.

An engine only runs where and from what it was built, so its key names everything it
depends on: the model, a hash of the weights and of the graph's code, the dtype, the
compile options and shape range, the GPU, the torch / torch-tensorrt / TensorRT versions
and the cache's own format version. KEDA may start several pods on a cold shared cache:
one builds under a lock beside the file while the others wait and then load what it
wrote; each writes under a name of its own and renames, so no reader sees half a file. A
file that will not load (cut short, or from an incompatible build) is moved aside and
rebuilt instead of failing every start.
"""

import fcntl
import hashlib
import importlib.metadata
import inspect
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

log = logging.getLogger(__name__)

# Bump when what is saved or how it is loaded changes, so old engines are rebuilt.
ENGINE_CACHE_VERSION = 2


def network_digest(net: nn.Module) -> str:
    """A hash of the weights (names, dtypes, shapes, bytes) and of the source of every
    module that defines a layer of the network, so retrained weights or a changed graph
    never reuse an engine."""
    digest = hashlib.sha256()
    for name, tensor in net.state_dict().items():
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}|{flat.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    sources = sorted({type(m).__module__ for m in net.modules()})
    for module in sources:
        digest.update(inspect.getsource(sys.modules[module]).encode())
    return digest.hexdigest()


def engine_path(model: str, identity: dict[str, str], data_dir: Path) -> Path:
    """`data_dir/engines/<model>-<hash>.ep`, the hash over `identity` plus the GPU and
    the versions an engine is bound to."""
    versions = {name: _version(name) for name in ("torch", "torch_tensorrt", "tensorrt")}
    full = {
        **identity, "cache_version": str(ENGINE_CACHE_VERSION),
        "gpu": torch.cuda.get_device_name(), **versions,
    }  # fmt: skip
    digest = hashlib.sha256(repr(sorted(full.items())).encode()).hexdigest()[:16]
    return data_dir / "engines" / f"{model}-{digest}.ep"


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution.replace("_", "-"))
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def build_or_load(
    path: Path, build: Callable[[], nn.Module], save: Callable[[nn.Module, Path], None]
) -> nn.Module:
    """The engine at `path`, loaded; or built (by one process at a time), saved and returned."""
    if path.exists() and (loaded := _load(path)) is not None:
        return loaded
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.with_name(f"{path.name}.lock")):
        if path.exists():  # built by another process while this one waited, or unreadable
            if (loaded := _load(path)) is not None:
                return loaded
            aside = path.with_name(f"{path.name}.bad-{int(time.time())}")
            path.replace(aside)
            log.error("event=tensorrt_engine_moved_aside path=%s to=%s", path, aside)
        started = time.monotonic()
        log.info("event=tensorrt_engine_building path=%s note=minutes_once_per_gpu", path)
        module = build()
        log.info("event=tensorrt_engine_built path=%s seconds=%.0f", path, time.monotonic() - started)
        # Named per process (pid and a random part: pods on one cache may share a pid).
        partial = path.with_name(f"{path.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.partial.ep")
        save(module, partial)
        partial.replace(path)  # atomic: a reader sees the old file or the whole new one
        return module


def _load(path: Path) -> nn.Module | None:
    log.info("event=tensorrt_engine_loading path=%s", path)
    try:
        return torch.export.load(str(path)).module()
    except Exception as error:  # noqa: BLE001 - cut short, another format, other versions: rebuild
        log.error("event=tensorrt_engine_unreadable path=%s error=%r", path, str(error))
        return None


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """An exclusive lock between processes (flock; NFS and EFS honour it as a POSIX lock)."""
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
