"""Which frames of a clip are dark and how much to lift them, one gain per shot.

Each frame gets a 256-bin luma histogram (every other pixel in each direction is plenty);
a shot cut is where consecutive histograms, coarsened to 32 bins, differ by more than
`CUT_DISTANCE` in total variation. A shot's gain is decided from the pooled histogram of
its frames in the first batch it appears in and then held until the next cut, across
batches, so brightness cannot flicker inside a shot. All of it is batched tensor work on
the model's device; nothing leaves the device and there is no per-frame Python loop.
"""

import torch

from services.worker.enhance.tone import KNEE

BINS = 256
CUT_BINS = 32
CUT_DISTANCE = 0.4
TARGET_MEAN = 0.3  # mean luma a dark shot is lifted towards
HIGHLIGHT_QUANTILE = 0.99  # this share of pixels stays on the curve's straight part
MAX_GAIN = 8.0
REC709 = (0.2126, 0.7152, 0.0722)


def luma_histograms(x: torch.Tensor) -> torch.Tensor:
    """(N, BINS) pixel shares of Rec.709 luma for an NCHW batch in [0, 1]."""
    n = x.shape[0]
    weights = torch.tensor(REC709, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    luma = (x[:, :, ::2, ::2] * weights).sum(1)
    bins = (luma * (BINS - 1)).round_().clamp_(0, BINS - 1).long()
    bins += torch.arange(n, device=x.device).view(n, 1, 1) * BINS
    counts = torch.bincount(bins.flatten(), minlength=n * BINS).view(n, BINS).float()
    return counts / counts.sum(1, keepdim=True)


def gain_for(histograms: torch.Tensor) -> torch.Tensor:
    """(M,) gains for (M, BINS) histograms (any positive scale): enough to bring the mean
    luma to TARGET_MEAN, never so much that more than 1% of pixels reach the shoulder."""
    shares = histograms / histograms.sum(1, keepdim=True).clamp_(min=1e-12)
    levels = torch.arange(BINS, device=shares.device, dtype=shares.dtype) / (BINS - 1)
    mean = (shares * levels).sum(1).clamp_(min=1 / 255)
    below = (shares.cumsum(1) < HIGHLIGHT_QUANTILE).sum(1).clamp_(max=BINS - 1)
    highlight = (levels[below] + 1 / (BINS - 1)).clamp_(max=1)
    return torch.minimum(TARGET_MEAN / mean, KNEE / highlight).clamp_(1, MAX_GAIN)


class DimSceneLift:
    """Per-clip state: the previous frame's histogram and its shot's gain."""

    def __init__(self) -> None:
        self.last_histogram: torch.Tensor | None = None
        self.last_gain: torch.Tensor | None = None

    def gains(self, x: torch.Tensor) -> torch.Tensor:
        """(N,) lift gain for each frame of the next NCHW batch of this clip, in order."""
        histograms = luma_histograms(x)
        coarse = histograms.view(-1, CUT_BINS, BINS // CUT_BINS).sum(2)
        if self.last_histogram is None:
            previous = torch.cat(
                [torch.full_like(coarse[:1], 2.0), coarse[:-1]]
            )  # a first frame is a cut
        else:
            previous = torch.cat([self.last_histogram[None], coarse[:-1]])
        cuts = 0.5 * (coarse - previous).abs().sum(1) > CUT_DISTANCE
        shot = cuts.long().cumsum(0)  # 0 only for frames continuing the previous batch's shot
        pooled = torch.zeros(len(x) + 1, BINS, device=x.device).index_add_(0, shot, histograms)
        shot_gain = gain_for(pooled)
        if self.last_gain is not None:
            shot_gain[0] = self.last_gain
        gains = shot_gain[shot]
        self.last_histogram, self.last_gain = coarse[-1], gains[-1]
        return gains
