"""A network followed by a bicubic resize of its output, as the shipped ncnn graphs do.

realesr-animevideov3's x2 and x3 graphs are the x4 network followed by a bicubic x0.5 or
x0.75 (ncnn Interp type 3, no antialiasing); realesrgan-x4plus is resized the same way
when a stream asks for less than x4. Keeping the resize inside the module lets a compiled
backend (inductor, TensorRT) fuse it with the network.
"""

import torch
import torch.nn.functional as F
from torch import nn


class ResizedOutput(nn.Module):
    def __init__(self, net: nn.Module, native_scale: int, scale: int) -> None:
        super().__init__()
        self.net = net
        self.factor = scale / native_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        if self.factor == 1:
            return out
        return F.interpolate(out, scale_factor=self.factor, mode="bicubic", align_corners=False)
