"""A GPU worker before it takes work: which backend it picks when torch_tensorrt is broken,
which engines it warms, and that it refuses to look ready when the backend it was asked
for cannot load. The GPU and torch_tensorrt are stand-ins (`tests/fake_tensorrt.py`);
Redis, the weights and the networks are real."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from redis import Redis

from services.core import localservers
from services.core.capacity import fleet_capacity
from services.core.errors import Unavailable
from services.core.settings import Settings
from services.worker.models import selection
from services.worker.models.selection import choose_backend
from services.worker.runner import served_models, warm_up
from tests.fake_tensorrt import FakeTensorrt


@pytest.fixture
def broken_tensorrt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A torch_tensorrt that is installed (find_spec sees it) but whose import fails as a
    TensorRT or driver mismatch does; each import attempt is counted in the file returned."""
    package = tmp_path / "site" / "torch_tensorrt"
    package.mkdir(parents=True)
    attempts = tmp_path / "attempts"
    package.joinpath("__init__.py").write_text(
        f"open({str(attempts)!r}, 'a').write('x')\n"
        "raise OSError('libnvinfer.so.11: cannot open shared object file')\n"
    )
    monkeypatch.syspath_prepend(str(package.parent))
    monkeypatch.delitem(sys.modules, "torch_tensorrt", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(selection, "_failed_in_process", [])
    selection.tensorrt_import_error.cache_clear()
    yield attempts
    selection.tensorrt_import_error.cache_clear()


def test_auto_with_a_torch_tensorrt_that_cannot_import_is_cuda_pytorch(broken_tensorrt: Path) -> None:
    assert [choose_backend("auto") for _ in range(3)] == ["torch"] * 3
    assert broken_tensorrt.read_text() == "x"  # imported once, the outcome kept
    with pytest.raises(Unavailable, match="libnvinfer"):
        choose_backend("tensorrt")


@pytest.fixture
def gpu_settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"backend": "tensorrt", "data_dir": tmp_path})


def test_a_tensorrt_worker_builds_every_engine_it_serves_before_taking_work(
    fake_tensorrt: FakeTensorrt, gpu_settings: Settings, redis: Redis
) -> None:
    warm_up(gpu_settings, redis, served_models(gpu_settings))

    # every tier at x2 (the teacher and two students), the teacher alone at x3 and x4
    served = {(mode, scale, tier) for mode in ("anime", "live_action") for scale in (2, 3, 4)
              for tier in (("quality", "balanced", "fast") if scale == 2 else ("quality",))}
    assert len(fake_tensorrt.compiled) == len(served) == 10  # one engine per network
    rates = fleet_capacity(redis, gpu_settings.capacity_stale_seconds)
    assert {(rate.mode, rate.scale, rate.tier) for rate in rates} == served
    engines = gpu_settings.data_dir / "engines"
    assert {call["options"]["timing_cache_path"] for call in fake_tensorrt.compiled} == {
        str(engines / "timing_cache.bin")
    }


def test_a_worker_asked_for_tensorrt_that_cannot_build_fails_its_warm_up(
    fake_tensorrt: FakeTensorrt, gpu_settings: Settings, redis: Redis
) -> None:
    fake_tensorrt.fail_compile = True
    with pytest.raises(RuntimeError, match="stand-in TensorRT build failure"):
        warm_up(gpu_settings, redis, served_models(gpu_settings))
    assert fleet_capacity(redis, gpu_settings.capacity_stale_seconds) == []


def test_a_worker_asked_for_tensorrt_without_a_gpu_exits_before_registering(
    settings: Settings, tmp_path: Path
) -> None:
    env = localservers.child_env({"SHARPR_BACKEND": "tensorrt", "SHARPR_DATA_DIR": str(tmp_path)})
    result = subprocess.run(localservers.python_command("worker", "--burst"), env=env, check=False,
                            capture_output=True, text=True, timeout=240)  # fmt: skip
    assert result.returncode == 1
    assert "no CUDA device" in result.stderr and "backend_unavailable" in result.stderr
