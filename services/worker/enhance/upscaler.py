"""`EnhancedUpscaler`: the model with a stream's enhancements around it, one clip at a time.

It satisfies the worker's `Upscaler` seam and works on the float batch between the
backend's uint8 conversions: frames -> NCHW float on the model's device -> daltonization
-> dim-scene lift -> network -> exact inverse of the lift -> uint8. Daltonization is a
per-pixel colour map, so it runs on the input frames, scale^2 fewer pixels than the output
(at x2 it cost ~5% of the model's time on the output, ~1% here). In `auto` mode the
model is chosen from the first batch the clip sends, so no frame is decoded twice.
It keeps per-clip state (the shot being lifted), so the worker builds one per clip;
the networks behind it are loaded once per process by `load_model`.
"""

import logging
from collections.abc import Callable
from typing import Protocol

import numpy as np
import torch

from services.core.schemas import ColorVision, Enhancement, Mode
from services.worker.enhance.color_vision import daltonize
from services.worker.enhance.content import detect_mode
from services.worker.enhance.dim_scenes import DimSceneLift
from services.worker.enhance.tone import lift, unlift
from services.worker.models.torch_backend import batch_to_frames, frames_to_batch
from services.worker.upscaler import check_frames

log = logging.getLogger(__name__)


class BatchUpscaler(Protocol):
    """What the torch and TensorRT backends offer beside `upscale`: the float path."""

    scale: int
    name: str

    @property
    def device(self) -> torch.device: ...

    def upscale_batch(self, x: torch.Tensor) -> torch.Tensor:
        """NCHW float in [0, 1] on `device` -> NCHW float, `scale` times larger, not clamped."""
        ...


def needs_wrapper(enhancement: Enhancement) -> bool:
    """Whether anything beyond the plain network is asked for."""
    return (
        enhancement.mode == Mode.auto
        or enhancement.dim_lift
        or (enhancement.color_vision != ColorVision.none and enhancement.color_vision_strength > 0)
    )


class EnhancedUpscaler:
    """One clip's upscaler: `load_model(mode)` gives the (cached) network for a content type."""

    def __init__(
        self, enhancement: Enhancement, load_model: Callable[[Mode], BatchUpscaler]
    ) -> None:
        self.enhancement = enhancement
        self.scale = enhancement.scale
        self.load_model = load_model
        self.model = None if enhancement.mode == Mode.auto else load_model(enhancement.mode)
        self.dim = DimSceneLift() if enhancement.dim_lift else None
        self.detected: Mode | None = None

    @property
    def name(self) -> str:
        parts = [self.model.name if self.model is not None else "auto"]
        if self.dim is not None:
            parts.append("dim-lift")
        if self.enhancement.color_vision != ColorVision.none:
            parts.append(
                f"{self.enhancement.color_vision}-{self.enhancement.color_vision_strength:g}"
            )
        return "+".join(parts)

    def upscale(self, frames: np.ndarray) -> np.ndarray:
        check_frames(frames)
        with torch.inference_mode():
            if self.model is None:
                self.model = self._model_for(frames)
            x = frames_to_batch(frames, self.model.device)
            x = daltonize(x, self.enhancement.color_vision, self.enhancement.color_vision_strength)
            gains = self.dim.gains(x) if self.dim is not None else None
            if gains is not None and not bool((gains > 1).any()):
                gains = None  # no dark shot in this batch: spare the output-sized passes
            if gains is not None:
                x = lift(x, gains)
            y = self.model.upscale_batch(x).float()
            if gains is not None:
                y = unlift(y, gains)
            return batch_to_frames(y.clamp_(0, 1))

    def _model_for(self, frames: np.ndarray) -> BatchUpscaler:
        """auto: the content type of the clip's first batch picks the network, on the CPU
        (a few frames; the network is not loaded yet, so its device is not known)."""
        self.detected = detect_mode(frames_to_batch(frames, torch.device("cpu")))
        log.info("event=content_detected mode=%s frames=%d", self.detected, len(frames))
        return self.load_model(self.detected)
