"""The CPU's Winograd kernel: built with the machine's compiler, equal to PyTorch's
convolution to float32 rounding at every frame size, swapped into the shipped networks,
and a clean fall back where it cannot be built."""

import ctypes
import logging
import os
import platform
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from services.core.schemas import Enhancement, Mode, Tier
from services.core.settings import Settings
from services.worker.models import network_backend, torch_backend
from services.worker.models.catalog import STUDENTS, load_network, model_for
from services.worker.models.compact import SRVGGNetCompact
from services.worker.models.cpu_features import cpu_flags, cpu_has_bf16
from services.worker.models.rrdb.arch import RRDBNet
from services.worker.models.torch_backend import cpu_placement, feature_width
from services.worker.models.winograd import (
    FLAGS,
    SOURCE,
    WinogradConv,
    WinogradKernel,
    transform_weights,
    winograd_kernel,
)
from services.worker.upscaler import load_upscaler

pytestmark = pytest.mark.skipif(
    shutil.which(os.environ.get("CXX") or "c++") is None, reason="needs a C++ compiler"
)


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> WinogradKernel:
    built = winograd_kernel(tmp_path_factory.mktemp("kernels"))
    assert built is not None
    return built


def channels_last(*shape: int) -> torch.Tensor:
    return torch.randn(*shape).contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize(
    ("n", "h", "w", "cin", "cout"),
    [(1, 1, 1, 64, 64), (1, 6, 6, 64, 64), (2, 5, 7, 64, 64), (1, 12, 19, 64, 64), (1, 17, 23, 64, 64),
     (1, 90, 160, 64, 64), (1, 9, 6, 32, 16), (2, 13, 3, 64, 48), (1, 3, 11, 192, 32)],
)  # fmt: skip
@pytest.mark.parametrize("with_prelu", [True, False])
def test_kernel_equals_pytorch_convolution(
    kernel: WinogradKernel, n: int, h: int, w: int, cin: int, cout: int, with_prelu: bool
) -> None:
    """Edges (partial 6x6 tiles, the zero padding), odd sizes, batches, channel counts."""
    torch.manual_seed(h * w + cin)
    x = channels_last(n, cin, h, w)
    weight, bias, slope = torch.randn(cout, cin, 3, 3) / (3 * cin**0.5), torch.randn(cout), torch.randn(cout)
    expected = F.conv2d(x.double(), weight.double(), bias.double(), padding=1)
    if with_prelu:
        expected = F.prelu(expected, slope.double())
    got = kernel.conv3x3(x, transform_weights(weight), bias, slope if with_prelu else None)
    assert got.shape == expected.shape and got.is_contiguous(memory_format=torch.channels_last)
    assert (got.double() - expected).abs().max() < 1e-4 * expected.abs().max()


def test_kernel_refuses_what_it_cannot_run(kernel: WinogradKernel) -> None:
    weights = transform_weights(torch.randn(64, 64, 3, 3))
    bias = torch.zeros(64)
    with pytest.raises(ValueError, match="float32 CPU batch of 64 channels"):
        kernel.conv3x3(channels_last(1, 64, 8, 8).double(), weights, bias, None)
    with pytest.raises(ValueError, match="float32 CPU batch of 64 channels"):
        kernel.conv3x3(channels_last(1, 32, 8, 8), weights, bias, None)
    assert not kernel.fits(nn.Conv2d(3, 64, 3, padding=1))  # 3 channels: not whole vectors
    assert not kernel.fits(nn.Conv2d(64, 64, 3, padding=1, stride=2))
    assert not kernel.fits(nn.Conv2d(64, 64, 5, padding=2))
    assert kernel.fits(nn.Conv2d(16, 12, 3, padding=1))  # outputs are padded to whole vectors


def test_outputs_that_are_not_whole_vectors_are_padded_and_sliced_off(kernel: WinogradKernel) -> None:
    torch.manual_seed(3)
    conv = nn.Conv2d(16, 12, 3, padding=1)
    x = channels_last(2, 16, 13, 21)
    with torch.inference_mode():
        got = WinogradConv(conv, None, kernel)(x)
        expected = conv(x)
    assert got.shape == expected.shape == (2, 12, 13, 21)
    assert torch.allclose(got, expected, atol=1e-4)


@pytest.mark.parametrize(
    "net",
    [SRVGGNetCompact(num_conv=3), RRDBNet(3, 3, num_feat=32, num_block=1, num_grow_ch=16)],
    ids=["compact", "rrdb"],
)
def test_swapped_networks_give_the_same_output(kernel: WinogradKernel, net: nn.Module) -> None:
    torch.manual_seed(1)
    net = net.eval().to(memory_format=torch.channels_last)
    x = torch.rand(2, 3, 19, 26).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        expected = net(x)
        swapped = kernel.swap_convs(net)
        got = net(x)
    assert swapped == sum(isinstance(m, WinogradConv) for m in net.modules()) > 0
    assert torch.allclose(got, expected, atol=1e-4)
    if isinstance(net, SRVGGNetCompact):  # conv 3->64 stays; 3 x 64->64 take their PReLU
        assert swapped == 4  # with the last conv, 64->48
        assert sum(isinstance(m, nn.PReLU) for m in net.modules()) == 1


def test_shipped_cpu_upscalers_run_on_the_kernel(tmp_path: Path) -> None:
    """Unless this CPU has native bf16 and a bf16 layer measured faster (`cpu_placement`)."""
    settings = Settings(data_dir=tmp_path, backend="torch")
    on_kernel = cpu_placement(tmp_path, 64).winograd is not None  # both teachers are 64 wide
    assert on_kernel or cpu_has_bf16()
    for mode in (Mode.anime, Mode.live_action):
        upscaler = load_upscaler(Enhancement(mode=mode, scale=2), settings)
        modules = upscaler.module.modules()  # type: ignore[attr-defined]
        assert any(isinstance(m, WinogradConv) for m in modules) == on_kernel
    assert len(list((tmp_path / "kernels").glob("winograd-*.so"))) == 1


def test_kernel_is_built_once_per_source_compiler_and_cpu(tmp_path: Path) -> None:
    assert winograd_kernel.__wrapped__(tmp_path) is not None
    built = list(tmp_path.glob("winograd-*.so"))
    assert len(built) == 1
    first_mtime = built[0].stat().st_mtime_ns
    assert winograd_kernel.__wrapped__(tmp_path) is not None  # a new process: reads the cache
    assert [p.stat().st_mtime_ns for p in tmp_path.glob("winograd-*")] == [first_mtime]


def test_no_compiler_keeps_pytorch_convolutions_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    with caplog.at_level(logging.WARNING):
        assert winograd_kernel(tmp_path / "kernels") is None
    assert "reason=no_compiler" in caplog.text and "install g++" in caplog.text
    placement = cpu_placement.__wrapped__(tmp_path, 64)
    assert placement.winograd is None and placement.device.type == "cpu"


def test_failed_build_keeps_pytorch_convolutions_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    compiler = tmp_path / "broken-c++"
    compiler.write_text(
        "#!/bin/sh\n[ \"$1\" = --version ] && echo 'c++ 12' && exit 0\n"
        "echo 'cc1plus: error: bad CPU' >&2\nexit 1\n"
    )
    compiler.chmod(compiler.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("CXX", str(compiler))
    with caplog.at_level(logging.WARNING):
        assert winograd_kernel(tmp_path / "kernels") is None
    assert "reason=build_failed" in caplog.text and "bad CPU" in caplog.text
    assert list((tmp_path / "kernels").iterdir()) == []  # no half-built library left behind


def test_a_bf16_cpu_races_one_layer_of_each_and_keeps_the_faster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """On a CPU without native bf16 (as here) oneDNN emulates it, so the kernel wins."""
    monkeypatch.setattr(torch_backend, "cpu_has_bf16", lambda: True)
    with caplog.at_level(logging.INFO, logger=torch_backend.__name__):
        placement = cpu_placement.__wrapped__(tmp_path, 64)
    assert "event=cpu_placement_race width=64 timings=torch.float32+winograd:" in caplog.text
    assert "torch.bfloat16:" in caplog.text
    assert placement.dtype in (torch.float32, torch.bfloat16)
    if not cpu_has_bf16():
        assert placement.winograd is not None and placement.dtype == torch.float32


def test_each_network_is_placed_by_a_race_at_its_own_width(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A 16-channel student and a 64-channel teacher can want different placements (on a Xeon
    with AMX bf16 won at 64 and 32 channels and lost 2.2x at 16), so the race is per width."""
    monkeypatch.setattr(torch_backend, "cpu_has_bf16", lambda: True)
    with caplog.at_level(logging.INFO, logger=torch_backend.__name__):
        cpu_placement.__wrapped__(tmp_path, 16)
    assert "event=cpu_placement_race width=16 " in caplog.text
    fast = load_network(model_for(Mode.anime, 2, Tier.fast), tmp_path)
    teacher = load_network(model_for(Mode.anime, 2, Tier.quality), tmp_path)
    assert (feature_width(fast), feature_width(teacher)) == (STUDENTS[Tier.fast][0], 64)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=torch_backend.__name__):
        network_backend(Mode.anime, 2, "torch", tmp_path, Tier.fast)  # the loader passes its width
    assert f"event=cpu_placement_race width={STUDENTS[Tier.fast][0]} " in caplog.text


@pytest.mark.skipif(platform.machine() != "x86_64", reason="x86-64 micro-architecture levels")
def test_the_avx2_build_is_right_too(tmp_path: Path) -> None:
    """-march=native picks 16-lane vectors here; a CPU without AVX-512 gets the 8-lane
    micro-kernel, built here for the AVX2 level (x86-64-v3) and checked the same way."""
    if not {"avx2", "fma"} <= cpu_flags():
        pytest.skip("this CPU cannot run AVX2 code")
    library = tmp_path / "winograd-avx2.so"
    flags = [f for f in FLAGS if f != "-march=native"]
    compiler = shutil.which(os.environ.get("CXX") or "c++")
    assert compiler is not None
    subprocess.run([compiler, *flags, "-march=x86-64-v3", str(SOURCE), "-o", str(library)],
                   check=True, capture_output=True)  # fmt: skip
    kernel = WinogradKernel(ctypes.CDLL(str(library)))
    assert kernel.lanes == 8
    x, weight, bias = channels_last(2, 64, 13, 20), torch.randn(48, 64, 3, 3) / 24, torch.randn(48)
    expected = F.conv2d(x.double(), weight.double(), bias.double(), padding=1)
    got = kernel.conv3x3(x, transform_weights(weight), bias, None)
    assert (got.double() - expected).abs().max() < 1e-4 * expected.abs().max()


def test_worker_sets_passive_openmp_threads_before_torch_loads() -> None:
    """Spinning OpenMP threads slow the kernel's own threads (services/worker/__init__.py)."""
    code = (
        "import os, sys; os.environ.pop('OMP_WAIT_POLICY', None); "
        "import services.worker.models.torch_backend; "
        "print(os.environ['OMP_WAIT_POLICY'], 'torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert done.stdout.split() == ["PASSIVE", "True"]
