"""SRVGGNetCompact, the network behind realesr-animevideov3 (Real-ESRGAN, BSD-3-Clause).

Rewritten after xinntao/Real-ESRGAN `realesrgan/archs/srvgg_arch.py` (Copyright (c) 2021
Xintao Wang, BSD-3-Clause), keeping its state-dict key names (`body.N.weight`) so weights
made for the original load unchanged. The module knows nothing about files.
"""

import torch
import torch.nn.functional as F
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
        self.upsampler = nn.PixelShuffle(upscale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        out = self.upsampler(out)
        return out + F.interpolate(x, scale_factor=self.upscale, mode="nearest")
