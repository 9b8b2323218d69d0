"""What the worker upscales with: `load_upscaler`, the one way to get the model for a
stream's clip, and the plain resize that stands in when the model cannot process a clip.

The `Upscaler` seam: a batch of frames in, the same frames `scale` times larger out
(uint8 RGB arrays shaped (N, H, W, 3), `models.frames`). The network backend comes from
`services.worker.models`; when a stream asks for auto mode, a dim-scene lift or
colour-vision grading, it is wrapped in an `EnhancedUpscaler` built from the pieces in
`services.worker.enhance`.
"""

import logging
from collections.abc import Callable
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from services.core.schemas import Clip, ColorVision, Enhancement, Mode, Stream, Tier
from services.core.settings import Settings
from services.core.tiers import served_tier, stream_tiers
from services.worker.enhance.color_vision import daltonize
from services.worker.enhance.content import detect_mode
from services.worker.enhance.dim_scenes import DimSceneLift
from services.worker.enhance.tone import lift, unlift
from services.worker.models import TorchUpscaler, choose_backend, network_backend
from services.worker.models.frames import check_frames
from services.worker.models.selection import tensorrt_failed
from services.worker.models.torch_backend import batch_to_frames, frames_to_batch

log = logging.getLogger(__name__)


class Upscaler(Protocol):
    scale: int
    name: str

    def upscale(self, frames: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 -> (N, H*scale, W*scale, 3) uint8."""
        ...


def load_upscaler(enhancement: Enhancement, settings: Settings) -> Upscaler:
    """The upscaler for one clip of a stream: the network of its tier (auto: quality, as for
    a file), loaded on first use and kept for the process, wrapped in the clip's
    enhancements when it has any."""
    backend = choose_backend(settings.backend)
    tier = Tier.quality if enhancement.tier == Tier.auto else enhancement.tier

    def network(mode: Mode) -> TorchUpscaler:
        try:
            return network_backend(mode, enhancement.scale, backend, settings.data_dir, tier)
        except Exception as error:
            if settings.backend != "auto" or backend != "tensorrt":
                raise
            # auto promised the fastest backend that works, not TensorRT at any price.
            log.exception("event=tensorrt_failed mode=%s tier=%s scale=%d fallback=torch", mode, tier,
                          enhancement.scale)
            tensorrt_failed(f"{type(error).__name__}: {error}")
            return network_backend(mode, enhancement.scale, "torch", settings.data_dir, tier)

    if needs_wrapper(enhancement):
        return EnhancedUpscaler(enhancement, network)
    return network(enhancement.mode)


def clip_enhancement(stream: Stream, clip: Clip) -> Enhancement:
    """The stream's enhancement at the tier this clip runs at: the stream's own, else the one
    its client chose for the clip, else quality for a whole file and the best of
    `stream_tiers` for a stream that must keep up. A tier with no network of its own at the
    stream's scale is the quality tier."""
    enhancement = stream.enhancement
    tier = enhancement.tier
    if tier == Tier.auto:
        whole_file = stream.source_url is not None and not stream.live_source
        best = Tier.quality if whole_file else stream_tiers(enhancement.mode, enhancement.scale)[0]
        tier = clip.tier or best
    return enhancement.model_copy(update={"tier": served_tier(tier, enhancement.scale)})


def needs_wrapper(enhancement: Enhancement) -> bool:
    """Whether anything beyond the plain network is asked for."""
    return (
        enhancement.mode == Mode.auto
        or enhancement.dim_lift
        or (enhancement.color_vision != ColorVision.none and enhancement.color_vision_strength > 0)
    )


class EnhancedUpscaler:
    """The network with a stream's enhancements around it, one clip at a time.

    It works on the float batch between the backend's uint8 conversions: frames -> NCHW
    float on the model's device -> daltonization -> dim-scene lift -> network -> exact
    inverse of the lift -> uint8. Daltonization is a per-pixel colour map, so it runs on
    the input frames, scale^2 fewer pixels than the output. In `auto` mode the network is
    chosen from the first batch the clip sends, so no frame is decoded twice. It keeps
    per-clip state (the shot being lifted), so the worker builds one per clip; `network(mode)`
    gives the (cached) network for a content type.
    """

    def __init__(self, enhancement: Enhancement, network: Callable[[Mode], TorchUpscaler]) -> None:
        self.enhancement = enhancement
        self.scale = enhancement.scale
        self.network = network
        self.model = None if enhancement.mode == Mode.auto else network(enhancement.mode)
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
        if self.model is None:  # outside inference mode: the load may build an engine
            self.model = self._model_for(frames)
        with torch.inference_mode():
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

    def _model_for(self, frames: np.ndarray) -> TorchUpscaler:
        """auto: the content type of the clip's first batch picks the network, on the CPU
        (a few frames; the network is not loaded yet, so its device is not known)."""
        with torch.inference_mode():
            self.detected = detect_mode(frames_to_batch(frames, torch.device("cpu")))
        log.info("event=content_detected mode=%s frames=%d", self.detected, len(frames))
        return self.network(self.detected)


class ResizeUpscaler:
    """Bicubic resize (antialiased), the baseline every model is compared against and the
    fallback for clips the model cannot process."""

    name = "bicubic"

    def __init__(self, scale: int) -> None:
        self.scale = scale

    def upscale(self, frames: np.ndarray) -> np.ndarray:
        check_frames(frames)
        with torch.inference_mode():
            batch = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
            out = F.interpolate(batch, scale_factor=self.scale, mode="bicubic", align_corners=False)
            return (
                out.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
            )


def fit_frames(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    """`frames` at `width` x `height`: resized bicubically (antialiased when shrinking),
    keeping their aspect; a different aspect is centred on black rather than stretched."""
    n, h, w, _ = frames.shape
    if (h, w) == (height, width):
        return frames
    factor = min(width / w, height / h)
    inner_w, inner_h = min(width, round(w * factor)), min(height, round(h * factor))
    with torch.inference_mode():
        batch = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
        resized = F.interpolate(
            batch,
            size=(inner_h, inner_w),
            mode="bicubic",
            align_corners=False,
            antialias=factor < 1,
        )
        out = torch.zeros((n, 3, height, width), dtype=torch.uint8)
        top, left = (height - inner_h) // 2, (width - inner_w) // 2
        out[:, :, top : top + inner_h, left : left + inner_w] = (
            resized.round_().clamp_(0, 255).to(torch.uint8)
        )
        return out.permute(0, 2, 3, 1).contiguous().numpy()
