"""bench/gpu_check.py, the prepared first command on a GPU, in its dry mode: every step
runs on the CPU at tiny sizes and checks its own output, so the command is known to work
before a GPU is lent."""

import subprocess
import sys
from pathlib import Path

from services.core import localservers

ROOT = Path(__file__).resolve().parent.parent


def test_the_gpu_check_runs_every_step_in_its_dry_mode() -> None:
    result = subprocess.run([sys.executable, "-m", "bench.gpu_check", "--dry-run"], cwd=ROOT,
                            env=localservers.child_env({}), check=False, capture_output=True,
                            text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    for network in ("realesr-animevideov3-x2", "realesr-animevideov3-x4", "realesrgan-x4plus-x3"):
        assert f"| {network}-torch | portrait |" in out
    assert "sharpr upscale --mode anime:" in out and "sharpr upscale --mode auto:" in out
    assert "encoder for 1080p: x2 libx264" in out  # no NVENC here
    assert "dry run: every step ran and checked its output" in out
