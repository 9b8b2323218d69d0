"""The invertible tone curve of the dim-scene lift: a per-frame gain with a soft shoulder.

Below the knee the curve is the straight line `gain * x`, so a model's errors there come
back divided by the same gain and a frame's mean brightness survives the round trip; the
shoulder (a rational curve, slope-matched at the knee) keeps the brightest few pixels
inside [0, 1] instead of clipping them. Both directions are closed-form, so `unlift`
undoes `lift` exactly (to float rounding).
"""

import torch

KNEE = 0.8  # output level where the straight part ends


def _shoulder(gain: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(x0, b): input level of the knee and the rational shoulder's bend, per frame."""
    x0 = KNEE / gain
    return x0, (gain - 1) / (1 - KNEE)


def lift(x: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
    """NCHW values in [0, 1] brightened by a per-frame `gain` (N,) >= 1, staying in [0, 1]."""
    k = gain.view(-1, 1, 1, 1)
    x0, b = _shoulder(k)
    u = ((x - x0) / (1 - x0)).clamp_(min=0)
    return torch.where(x < x0, k * x, KNEE + (1 - KNEE) * (1 + b) * u / (1 + b * u))


def unlift(y: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
    """The exact inverse of `lift`; model overshoot above 1 is clipped first, values below 0
    stay on the straight part. The straight part is one pass over the output; the shoulder
    is computed only for the few pixels at or above the knee (`gain_for` keeps them ~1%)."""
    k = gain.view(-1, 1, 1, 1)
    out = y.clamp(max=1).div_(k)
    frame, *pixel = (y >= KNEE).nonzero(as_tuple=True)
    if len(frame):
        x0, b = _shoulder(gain[frame])
        w = (y[(frame, *pixel)].clamp(max=1) - KNEE) / (1 - KNEE)
        out[(frame, *pixel)] = x0 + (1 - x0) * w / (1 + b - b * w)
    return out
