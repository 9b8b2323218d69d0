"""Upscaling a frame in overlapping tiles, so memory stays bounded on large frames.

Each tile is cut with `overlap` extra input pixels on every inner side and only its centre
is kept. When the overlap covers the network's receptive field (18 pixels for the compact
net) the result equals the untiled one up to float rounding, so no seam can show.
"""

from collections.abc import Callable

import torch


def tile_size_for(max_pixels: int, overlap: int) -> int:
    """The largest square tile whose padded input stays within `max_pixels`."""
    side = int(max_pixels**0.5) - 2 * overlap
    if side < 16:
        raise ValueError(f"a budget of {max_pixels} pixels leaves no room beside overlap {overlap}")
    return side


def upscale_tiled(
    run: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    scale: int,
    tile: int,
    overlap: int,
) -> torch.Tensor:
    """`run` applied tile by tile to NCHW `x`; `run` must scale its input by `scale`."""
    n, c, h, w = x.shape
    out = x.new_empty((n, c, h * scale, w * scale))
    for top in range(0, h, tile):
        for left in range(0, w, tile):
            bottom, right = min(top + tile, h), min(left + tile, w)
            pad_top, pad_left = max(top - overlap, 0), max(left - overlap, 0)
            piece = run(
                x[:, :, pad_top : min(bottom + overlap, h), pad_left : min(right + overlap, w)]
            )
            dy, dx = (top - pad_top) * scale, (left - pad_left) * scale
            out[:, :, top * scale : bottom * scale, left * scale : right * scale] = piece[
                :, :, dy : dy + (bottom - top) * scale, dx : dx + (right - left) * scale
            ]
    return out
