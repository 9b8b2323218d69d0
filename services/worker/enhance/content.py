"""Auto content type: anime or live action, from cheap statistics of a clip's first frames.

Cel animation is mostly flat colour bounded by hard edges; camera footage has grain and
texture everywhere, so few of its neighbouring pixels are equal and many differ a little.
A pixel's luma is flat when it differs from its left and upper neighbours by less than
FLAT_STEP (above a codec's faint noise, below a camera's grain) and textured when the
larger difference lies between FLAT_STEP and EDGE_STEP. Anime has many flat pixels and
few textured ones; the threshold sits mid-way in the gap the labelled set shows
(bench/RESULTS.md, "Enhancements").
"""

import torch

from services.core.schemas import Mode
from services.worker.enhance.dim_scenes import REC709

FLAT_STEP = 2.5 / 255
EDGE_STEP = 24 / 255
ANIME_SCORE = 0.15  # flat share minus textured share at which a clip counts as anime


def content_score(x: torch.Tensor) -> torch.Tensor:
    """Flat share minus textured share over an NCHW batch in [0, 1] (one number)."""
    weights = torch.tensor(REC709, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    luma = (x * weights).sum(1)
    step = torch.maximum(
        (luma[..., 1:, 1:] - luma[..., 1:, :-1]).abs(),
        (luma[..., 1:, 1:] - luma[..., :-1, 1:]).abs(),
    )
    flat = (step < FLAT_STEP).float().mean()
    textured = ((step >= FLAT_STEP) & (step < EDGE_STEP)).float().mean()
    return flat - textured


def detect_mode(x: torch.Tensor) -> Mode:
    """anime or live_action for a clip, from an NCHW batch of its first frames."""
    return Mode.anime if content_score(x).item() > ANIME_SCORE else Mode.live_action
