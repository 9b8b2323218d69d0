"""Neural upscalers: Real-ESRGAN networks, their weights from the shipped ncnn files, and
the backends that run them. `load_upscaler` is the one entry point the worker calls.

anime -> realesr-animevideov3 at the stream's scale; live_action -> realesrgan-x4plus at x4,
resized to the stream's scale and tiled to bound memory. Each (model, scale, backend) is
loaded once per process. When a stream asks for auto mode, a dim-scene lift or
colour-vision grading, the network comes wrapped in a per-clip `EnhancedUpscaler`.
"""

import logging
import threading
from functools import lru_cache
from pathlib import Path

from services.core.schemas import Enhancement, Mode
from services.core.settings import Settings
from services.worker.models.catalog import load_network, model_for
from services.worker.models.selection import Backend, choose_backend
from services.worker.models.torch_backend import Budget, Placement, TorchUpscaler
from services.worker.upscaler import Upscaler

__all__ = ["load_upscaler"]

log = logging.getLogger(__name__)
_lock = threading.Lock()


def load_upscaler(enhancement: Enhancement, settings: Settings) -> Upscaler:
    """The upscaler for one clip of a stream: the network, loaded on first use and kept for
    the process, wrapped in the clip's enhancements when it has any."""
    # Imported here: the enhance package imports the torch backend from this package.
    from services.worker.enhance.upscaler import EnhancedUpscaler, needs_wrapper

    backend = choose_backend(settings.backend)

    def network(mode: Mode) -> TorchUpscaler:
        with _lock:
            return _load(mode, enhancement.scale, backend, settings.data_dir)

    if needs_wrapper(enhancement):
        return EnhancedUpscaler(enhancement, network)
    return network(enhancement.mode)


@lru_cache(maxsize=8)
def _load(mode: Mode, scale: int, backend: Backend, data_dir: Path) -> TorchUpscaler:
    spec = model_for(mode, scale)
    net = load_network(spec, data_dir)
    log.info("loading upscaler model=%s backend=%s", spec.key, backend)
    if backend == "tensorrt":
        from services.worker.models.tensorrt_backend import tensorrt_upscaler

        return tensorrt_upscaler(net, spec, data_dir)
    placement = Placement.best_available(data_dir)
    budget = Budget.for_network(spec.architecture.name, placement.device)
    return TorchUpscaler(
        placement.prepare(net),
        scale=scale,
        name=f"{spec.key}-torch",
        budget=budget,
        placement=placement,
    )
