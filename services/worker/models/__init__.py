"""Neural upscalers: Real-ESRGAN networks, their weights from the shipped ncnn files, and
the backends that run them. `network_backend` gives the network for a content mode and
scale on a backend; it knows nothing of a stream's enhancements, which
`services.worker.upscaler` wraps around it.

Each mode has tiers (`catalog`): quality is the teacher (anime -> realesr-animevideov3 at
the stream's scale; live_action -> realesrgan-x4plus at x4, resized to the stream's scale
and tiled to bound memory); balanced and fast are students distilled from it, at x2. Each
(model, scale, tier, backend) is loaded once per process.
"""

import logging
import threading
from functools import lru_cache
from pathlib import Path

from services.core.schemas import Mode, Tier
from services.core.tiers import served_tier
from services.worker.models.catalog import load_network, model_for
from services.worker.models.selection import Backend, choose_backend
from services.worker.models.tensorrt_backend import tensorrt_upscaler
from services.worker.models.torch_backend import Budget, Placement, TorchUpscaler, feature_width

__all__ = ["Backend", "TorchUpscaler", "choose_backend", "network_backend", "teacher_backend"]

log = logging.getLogger(__name__)
_lock = threading.Lock()


def network_backend(
    mode: Mode, scale: int, backend: Backend, data_dir: Path, tier: Tier = Tier.quality
) -> TorchUpscaler:
    """The network for `mode` at `scale` and `tier` on `backend`, loaded on first use
    (weights converted and cached under `data_dir`) and kept for the process; one load at a
    time."""
    with _lock:
        return _load(mode, scale, served_tier(tier, scale), backend, data_dir)


def teacher_backend(mode: Mode, data_dir: Path) -> TorchUpscaler:
    """The quality tier at x2 on the CPU: what the distilled tiers learn from."""
    return network_backend(mode, 2, "torch", data_dir, Tier.quality)


@lru_cache(maxsize=16)
def _load(mode: Mode, scale: int, tier: Tier, backend: Backend, data_dir: Path) -> TorchUpscaler:
    spec = model_for(mode, scale, tier)
    net = load_network(spec, data_dir)
    log.info("event=model_loading model=%s backend=%s", spec.key, backend)
    if backend == "tensorrt":
        return tensorrt_upscaler(net, spec, data_dir)
    placement = Placement.best_available(data_dir, feature_width(net))
    budget = Budget.for_network(spec.architecture.name, placement.device)
    return TorchUpscaler(
        placement.prepare(net),
        scale=scale,
        name=f"{spec.key}-torch",
        budget=budget,
        placement=placement,
    )
