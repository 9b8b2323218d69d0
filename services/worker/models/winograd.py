"""Winograd F(6x6, 3x3) for the CPU's 3x3 convolutions: a small C++ kernel built on first use.

oneDNN's direct convolution already runs near the CPU's multiply-add peak, and that left
float32 at 0.55-1.3x ncnn, which uses Winograd on x86. F(6x6, 3x3) spends 1.78
multiply-adds per output where direct convolution spends 9; `winograd.cpp` also folds the
bias and a following PReLU into its output transform. Measured 2.2-2.3x oneDNN float32 per
64->64 layer (bench/RESULTS.md), at float32 accuracy (1e-5 relative).

The kernel is compiled by the machine's C++ compiler (`$CXX`, else `c++`) with
-march=native into `data_dir/kernels`, keyed by its source, the compiler and the CPU's
flags, so a new CPU or compiler gets a fresh build. Without a compiler, or if the build
fails, the network keeps PyTorch's convolutions and a warning says why.
"""

import ctypes
import hashlib
import logging
import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from services.worker.models.cpu_features import cpu_flags

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("winograd.cpp")
FLAGS = ("-O3", "-march=native", "-ffp-contract=fast", "-std=c++17", "-shared", "-fPIC", "-pthread")

# G of F(6x6, 3x3) (points 0, +-1, +-2, +-1/2, infinity; Lavin & Gray, 2016): a 3x3
# filter g becomes the 8x8 G g G^T, to match B^T and A^T in winograd.cpp.
G = torch.tensor(
    [
        [1, 0, 0],
        [-2 / 9, -2 / 9, -2 / 9],
        [-2 / 9, 2 / 9, -2 / 9],
        [1 / 90, 1 / 45, 2 / 45],
        [1 / 90, -1 / 45, 2 / 45],
        [32 / 45, 16 / 45, 8 / 45],
        [32 / 45, -16 / 45, 8 / 45],
        [0, 0, 1],
    ],
    dtype=torch.float64,
)
POINTS = G.shape[0] ** 2


class WinogradKernel:
    """The built kernel: which convolutions it takes, and the call itself."""

    def __init__(self, library: ctypes.CDLL) -> None:
        self.lanes: int = library.sharpr_winograd_lanes()
        self._conv = library.sharpr_winograd_conv3x3
        self._conv.argtypes = [ctypes.c_void_p] * 5 + [ctypes.c_int] * 6
        self._conv.restype = ctypes.c_int

    def fits(self, conv: nn.Conv2d) -> bool:
        return (
            conv.kernel_size == (3, 3) and conv.stride == (1, 1) and conv.padding == (1, 1)
            and conv.dilation == (1, 1) and conv.groups == 1 and conv.padding_mode == "zeros"
            and conv.bias is not None and conv.in_channels % self.lanes == 0
        )  # fmt: skip

    def conv3x3(
        self, x: torch.Tensor, weights: torch.Tensor, bias: torch.Tensor, slope: torch.Tensor | None
    ) -> torch.Tensor:
        """PReLU(conv3x3(x) + bias) for a channels_last float32 CPU batch; `weights` are
        `transform_weights` of the filter; no PReLU where `slope` is None. The call
        releases the GIL (ctypes), so decode and encode threads keep running."""
        x = x.contiguous(memory_format=torch.channels_last)
        n, cin, h, w = x.shape
        if x.dtype != torch.float32 or x.device.type != "cpu" or cin != weights.shape[1]:
            raise ValueError(f"expected a float32 CPU batch of {weights.shape[1]} channels, "
                             f"got {tuple(x.shape)} {x.dtype} on {x.device}")  # fmt: skip
        cout = weights.shape[2]
        y = torch.empty((n, cout, h, w), memory_format=torch.channels_last)
        status = self._conv(
            x.data_ptr(), weights.data_ptr(), bias.data_ptr(),
            None if slope is None else slope.data_ptr(), y.data_ptr(),
            n, h, w, cin, cout, torch.get_num_threads(),
        )  # fmt: skip
        if status != 0:
            raise ValueError(f"the Winograd kernel refused {tuple(x.shape)} -> {cout} channels")
        return y

    def swap_convs(self, net: nn.Module) -> int:
        """Put a `WinogradConv` in place of every 3x3 convolution it fits, taking along a
        PReLU that directly follows the convolution in a Sequential or ModuleList (that
        PReLU becomes an Identity). Returns how many were swapped."""
        swapped = 0
        for parent in list(net.modules()):
            children = list(parent.named_children())
            in_order = isinstance(parent, (nn.Sequential, nn.ModuleList))
            for i, (name, child) in enumerate(children):
                if not (isinstance(child, nn.Conv2d) and self.fits(child)):
                    continue
                after = children[i + 1] if in_order and i + 1 < len(children) else None
                prelu = None
                if after is not None and isinstance(after[1], nn.PReLU):
                    prelu = after[1]
                    setattr(parent, after[0], nn.Identity())
                setattr(parent, name, WinogradConv(child, prelu, self))
                swapped += 1
        return swapped


class WinogradConv(nn.Module):
    """A 3x3 convolution (and the PReLU after it, if any) run by the Winograd kernel.

    Output channels that are not whole vectors (a student's last conv, 16 -> 12) are padded
    with zero filters and sliced off again: 1.8 ms a 426x240 frame here, against 4.4 ms for
    oneDNN's direct convolution of the 12."""

    def __init__(self, conv: nn.Conv2d, prelu: nn.PReLU | None, kernel: WinogradKernel) -> None:
        super().__init__()
        self.kernel = kernel
        self.out_channels = conv.out_channels
        padded = -conv.out_channels % kernel.lanes
        with torch.no_grad():
            weight = F.pad(conv.weight.detach(), (0, 0, 0, 0, 0, 0, 0, padded))
            self.register_buffer("weights", transform_weights(weight))
            self.register_buffer("bias", F.pad(conv.bias.detach().float(), (0, padded)).contiguous())
            slope = None
            if prelu is not None:
                slope = F.pad(prelu.weight.detach().float().expand(conv.out_channels), (0, padded)).contiguous()
            self.register_buffer("slope", slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.kernel.conv3x3(x, self.weights, self.bias, self.slope)
        return y if y.shape[1] == self.out_channels else y[:, : self.out_channels]


def transform_weights(weight: torch.Tensor) -> torch.Tensor:
    """(cout, cin, 3, 3) filters -> (64, cin, cout) float32: G g G^T for every channel pair,
    computed in float64, laid out for the kernel's matrix products."""
    cout, cin = weight.shape[:2]
    u = torch.einsum("au,oiuv,bv->abio", G, weight.detach().double().cpu(), G)
    return u.reshape(POINTS, cin, cout).float().contiguous()


@lru_cache
def winograd_kernel(cache_dir: Path) -> WinogradKernel | None:
    """The kernel built for this CPU (or read from `cache_dir`), None where it cannot be."""
    wanted = os.environ.get("CXX") or "c++"
    compiler = shutil.which(wanted)
    if compiler is None:
        log.warning("event=winograd_unavailable reason=no_compiler cxx=%s advice=%r", wanted,
                    "3x3 convolutions stay on PyTorch; install g++ for ~2x CPU speed")  # fmt: skip
        return None
    try:
        target = _built(compiler, cache_dir)
    except (OSError, subprocess.SubprocessError) as error:  # a hung or broken toolchain
        log.warning("event=winograd_unavailable reason=build_failed cxx=%s error=%r", compiler, error)
        return None
    return None if target is None else WinogradKernel(ctypes.CDLL(str(target)))


def _built(compiler: str, cache_dir: Path) -> Path | None:
    """The library for this source, compiler and CPU: from the cache, or compiled into it."""
    version = subprocess.run(
        [compiler, "--version"], capture_output=True, text=True, check=True, timeout=30
    )
    build_inputs = [version.stdout, " ".join(FLAGS), " ".join(sorted(cpu_flags()))]
    key = hashlib.sha256(SOURCE.read_bytes() + "\0".join(build_inputs).encode()).hexdigest()[:16]
    target = cache_dir / f"winograd-{key}.so"
    if target.exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.partial")
    try:
        build = subprocess.run(
            [compiler, *FLAGS, str(SOURCE), "-o", str(partial)],
            capture_output=True, text=True, check=False, timeout=300,
        )  # fmt: skip
        if build.returncode != 0:
            log.warning("event=winograd_unavailable reason=build_failed cxx=%s error=%r",
                        compiler, build.stderr.strip()[-2000:])  # fmt: skip
            return None
        partial.replace(target)  # atomic: a concurrent loader never maps half a file
    finally:
        partial.unlink(missing_ok=True)
    log.info("event=winograd_built path=%s", target)
    return target
