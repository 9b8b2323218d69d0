"""A network followed by a bicubic resize of its output, as the shipped ncnn graphs do.

realesr-animevideov3's x2 and x3 graphs are the x4 network followed by a bicubic x0.5 or
x0.75 (ncnn Interp type 3, no antialiasing); realesrgan-x4plus is resized the same way
when a stream asks for less than x4. Keeping the resize inside the module lets a compiled
backend (inductor, TensorRT) fuse it with the network.
"""

import torch
import torch.nn.functional as F
from torch import nn

from services.worker.models.compact.arch import SRVGGNetCompact


class ResizedOutput(nn.Module):
    def __init__(self, net: nn.Module, native_scale: int, scale: int) -> None:
        super().__init__()
        self.net = net
        self.native_scale = native_scale
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        if self.scale == self.native_scale:
            return out
        return bicubic(out, x, self.scale)


def bicubic(out: torch.Tensor, x: torch.Tensor, scale: int) -> torch.Tensor:
    """`out` resized bicubically to `scale` times `x`'s size. Sized, not scaled by a factor:
    torch.export (TensorRT's path) can prove a size for every height and width, not
    `floor(0.5 * 4 * h) == 2 * h`."""
    size = (x.shape[2] * scale, x.shape[3] * scale)
    return F.interpolate(out, size=size, mode="bicubic", align_corners=False)


class CompactResized(nn.Module):
    """SRVGGNetCompact (x4) then a bicubic resize to x`scale`, computed at the input's size.

    Pixel shuffle, the nearest-upsampled skip and the bicubic resize are all linear, so
    away from the frame's edge they fold into two small convolutions on the low-resolution
    maps (the last conv and the resize as one 5x5 conv 64 -> 3*scale^2, the skip as a 3x3
    conv 3 -> 3*scale^2) and one pixel shuffle by `scale`. That skips the 4x-size
    intermediate, 7% of a CPU frame. The bicubic clamps at the x4 image's edge, which
    the folded form cannot; the outermost output rows and columns, the only ones that
    read past it, are recomputed exactly from two-pixel strips.
    """

    def __init__(self, net: SRVGGNetCompact, scale: int) -> None:
        super().__init__()
        if net.upscale != 4 or scale not in (2, 3):
            raise ValueError(f"fuses an x4 net resized to x2 or x3, not x{net.upscale}->x{scale}")
        self.scale = scale
        self.features = nn.Sequential(*net.body[:-1])
        self.last = net.body[-1]
        assert isinstance(self.last, nn.Conv2d)
        resize = _resize_kernel(net.upscale, scale)  # (3s^2, 48, 3, 3)
        channels = resize.shape[0]
        self.head = nn.Conv2d(self.last.in_channels, channels, 5, padding=2)
        self.skip = nn.Conv2d(3, channels, 3, padding=1, bias=False)
        with torch.no_grad():
            last_w = self.last.weight.double()
            self.head.weight.copy_(_compose(resize, last_w))
            self.head.bias.copy_(resize.sum(dim=(2, 3)) @ self.last.bias.double())
            # The skip repeats each input colour over its 16 sub-pixels of the x4 image.
            self.skip.weight.copy_(resize.view(channels, 3, 16, 3, 3).sum(dim=2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        if x.shape[2] < 2 or x.shape[3] < 2:
            return self._exact(h, x)
        out = F.pixel_shuffle(self.head(h) + self.skip(x), self.scale)
        top = self._exact(h[:, :, :2], x[:, :, :2])[:, :, :1]
        bottom = self._exact(h[:, :, -2:], x[:, :, -2:])[:, :, -1:]
        out = torch.cat([top, out[:, :, 1:-1], bottom], dim=2)
        left = self._exact(h[:, :, :, :2], x[:, :, :, :2])[:, :, :, :1]
        right = self._exact(h[:, :, :, -2:], x[:, :, :, -2:])[:, :, :, -1:]
        return torch.cat([left, out[:, :, :, 1:-1], right], dim=3)

    def _exact(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The unfused tail, as SRVGGNetCompact and ResizedOutput compute it."""
        out = F.pixel_shuffle(self.last(h), 4) + F.interpolate(x, scale_factor=4, mode="nearest")
        return bicubic(out, x, self.scale)


def _resize_kernel(upscale: int, scale: int) -> torch.Tensor:
    """The map from the last conv's 3*upscale^2 channels at one low-resolution pixel and
    its 8 neighbours to the 3*scale^2 output phases there, read off the real pixel shuffle
    and bicubic by probing each channel with an impulse in float64."""
    channels_in, size, centre = 3 * upscale * upscale, 7, 3
    probe = torch.zeros(channels_in, channels_in, size, size, dtype=torch.float64)
    probe[torch.arange(channels_in), torch.arange(channels_in), centre, centre] = 1
    response = bicubic(F.pixel_shuffle(probe, upscale), probe[:, :3], scale)
    phases = F.pixel_unshuffle(response, scale)  # (48, 3s^2, 7, 7)
    # Correlation: out(k) = sum_a K[a] z(k + a - 1), so an impulse at `centre` shows K[a]
    # at k = centre - a + 1; nothing may leak outside that 3x3 window.
    window = phases[:, :, centre - 1 : centre + 2, centre - 1 : centre + 2]
    if phases.abs().sum() - window.abs().sum() > 1e-9:
        raise AssertionError("the resize reaches beyond one low-resolution neighbour")
    return window.flip(2, 3).permute(1, 0, 2, 3).contiguous()


def _compose(outer: torch.Tensor, inner: torch.Tensor) -> torch.Tensor:
    """The kernel of conv(outer) after conv(inner), both 3x3 with padding 1: 5x5, padding 2."""
    kernel = torch.zeros(outer.shape[0], inner.shape[1], 5, 5, dtype=torch.float64)
    for a in range(3):
        for b in range(3):
            step = torch.einsum("om,mipq->oipq", outer[:, :, a, b], inner)
            kernel[:, :, a : a + 3, b : b + 3] += step
    return kernel
