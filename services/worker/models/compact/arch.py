"""SRVGGNetCompact, the network behind realesr-animevideov3 (Real-ESRGAN, BSD-3-Clause).

Rewritten after xinntao/Real-ESRGAN `realesrgan/archs/srvgg_arch.py` (Copyright (c) 2021
Xintao Wang, BSD-3-Clause), keeping its state-dict key names (`body.N.weight`) so weights
made for the original load unchanged. The module knows nothing about files.
"""

import torch
from torch import nn


class SRVGGNetCompact(nn.Module):
    """conv -> PReLU -> num_conv x (conv -> PReLU) -> conv -> pixel shuffle, plus the
    nearest-upsampled input: the net only learns the residual over a blocky enlargement."""

    def __init__(
        self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_conv: int = 16,
        upscale: int = 4,
    ) -> None:  # fmt: skip
        super().__init__()
        self.upscale = upscale
        layers: list[nn.Module] = [nn.Conv2d(num_in_ch, num_feat, 3, 1, 1), nn.PReLU(num_feat)]
        for _ in range(num_conv):
            layers += [nn.Conv2d(num_feat, num_feat, 3, 1, 1), nn.PReLU(num_feat)]
        layers.append(nn.Conv2d(num_feat, num_out_ch * upscale * upscale, 3, 1, 1))
        self.body = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        # The nearest-upsampled input, added before the shuffle: each colour repeated over its
        # upscale^2 sub-pixel channels at the input's size. Same sums, one full-size pass fewer.
        out = out + x.repeat_interleave(self.upscale * self.upscale, dim=1)
        return shuffle_to_channels_last(out, self.upscale)


def shuffle_to_channels_last(x: torch.Tensor, scale: int) -> torch.Tensor:
    """`F.pixel_shuffle(x, scale)` for 3-colour output, computed in NHWC order and returned as
    an NCHW view of NHWC memory: from a channels_last `x` that is one copy, where pixel_shuffle
    of a channels_last map is a slow gather (21% of a 16-channel net's frame), and the frames
    it becomes are NHWC already."""
    n, _, h, w = x.shape
    nhwc = x.permute(0, 2, 3, 1).reshape(n, h, w, 3, scale, scale)
    out = nhwc.permute(0, 1, 4, 2, 5, 3).reshape(n, h * scale, w * scale, 3)
    return out.permute(0, 3, 1, 2)
