"""CPU inference keeps its freed feature maps in the heap instead of faulting them back in."""

import platform
import resource
from pathlib import Path

import numpy as np
import pytest

from services.core.schemas import Enhancement, Mode
from services.core.settings import Settings
from services.worker.upscaler import load_upscaler
from tests.patterns import natural_frames


def minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="tunes glibc's malloc")
def test_repeated_cpu_inference_does_not_page_fault(tmp_path: Path) -> None:
    # 160x90 maps (1.8 MiB each) are over glibc's default thresholds: without the tuning
    # each call faulted in 500-5,000 pages (in this process, after the same warm-up).
    upscaler = load_upscaler(
        Enhancement(mode=Mode.anime, scale=2), Settings(data_dir=tmp_path, backend="torch")
    )
    frames = natural_frames(1, 90, 160)
    first = upscaler.upscale(frames)
    upscaler.upscale(frames)
    before = minor_faults()
    again = upscaler.upscale(frames)
    assert minor_faults() - before < 200
    np.testing.assert_array_equal(again, first)
