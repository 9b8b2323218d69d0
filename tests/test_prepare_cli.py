"""`sharpr prepare`: fills the model caches ahead of time, or says clearly why it cannot."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from services.core import localservers


def run_prepare(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = localservers.child_env({"SHARPR_DATA_DIR": str(data_dir)})
    return subprocess.run(localservers.python_command("prepare", *args), env=env,
                          check=False, capture_output=True, text=True, timeout=240)


def test_prepare_converts_the_weights_into_the_data_dir(tmp_path: Path) -> None:
    result = run_prepare(tmp_path, "--mode", "anime", "--scale", "2", "4", "--backend", "torch")
    assert result.returncode == 0, result.stderr
    assert "realesr-animevideov3-x2-torch: ready" in result.stdout
    assert "realesr-animevideov3-x4-torch: ready" in result.stdout
    for tier in ("balanced", "fast"):  # every tier at x2; at x4 only the teacher
        assert f"sharpr-anime-{tier}-x2-torch: ready" in result.stdout
    assert result.stdout.count(": ready") == 4
    assert list((tmp_path / "models").glob("compact-*.safetensors"))
    if shutil.which(os.environ.get("CXX") or "c++") and not torch.cuda.is_available():
        assert list((tmp_path / "kernels").glob("winograd-*.so"))  # the CPU's kernel, built


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal without CUDA")
def test_prepare_for_tensorrt_without_a_gpu_fails_with_a_message(tmp_path: Path) -> None:
    result = run_prepare(tmp_path, "--backend", "tensorrt")
    assert result.returncode == 1
    assert "backend_unavailable" in result.stderr and "Traceback" not in result.stderr
