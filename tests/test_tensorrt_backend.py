"""The TensorRT wrapper's logic, with a stand-in for the GPU and torch_tensorrt
(`tests/fake_tensorrt.py`) that records what it is asked to build, save and load: tiling
into the engine's range, the engine cache under concurrent starts and after a bad file,
the cache key, each network's shape range, and the build outside inference mode."""

import importlib
import multiprocessing
import os
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from services.core.schemas import Enhancement, Mode
from services.core.settings import Settings
from services.worker.models import tensorrt_backend
from services.worker.models.catalog import model_for
from services.worker.models.compact import SRVGGNetCompact
from services.worker.models.engine_cache import network_digest
from services.worker.models.resized import ResizedOutput
from services.worker.models.rrdb.arch import RRDBNet
from services.worker.models.tensorrt_backend import tensorrt_upscaler
from services.worker.upscaler import load_upscaler
from tests.fake_tensorrt import FakeTensorrt, install
from tests.patterns import cartoon_frame

ANIME = model_for(Mode.anime, 2)


def small_compact() -> nn.Module:
    torch.manual_seed(0)
    return ResizedOutput(SRVGGNetCompact(num_conv=1), 4, 2).eval()


@pytest.mark.parametrize(("height", "width"), [(1280, 720), (480, 2048)])
def test_portrait_and_ultrawide_frames_are_tiled_into_the_engine_range(
    fake_tensorrt: FakeTensorrt, tmp_path: Path, height: int, width: int
) -> None:
    # Both are under 1088 x 1088 pixels, with one side past the engine's 1088 x 1920.
    upscaler = tensorrt_upscaler(small_compact(), ANIME, tmp_path)
    out = upscaler.upscale(np.zeros((1, height, width, 3), np.uint8))
    assert out.shape == (1, height * 2, width * 2, 3)
    assert len(upscaler.module.calls) > 1  # tiles, each inside the range (else it raises)


def start_worker(data_dir: str, built: str) -> None:
    """A worker process starting on the shared cache: load or build, then say how many
    engines it built."""
    fake = FakeTensorrt(build_seconds=2.0)
    install(fake, pytest.MonkeyPatch())
    tensorrt_upscaler(small_compact(), ANIME, Path(data_dir))
    Path(built, str(os.getpid())).write_text(str(len(fake.compiled)))


def test_workers_starting_together_on_a_cold_cache_build_one_engine(tmp_path: Path) -> None:
    built = tmp_path / "built"
    built.mkdir()
    spawn = multiprocessing.get_context("spawn")  # separate processes, as pods are
    workers = [spawn.Process(target=start_worker, args=(str(tmp_path), str(built))) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=180)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    assert sorted(int(f.read_text()) for f in built.iterdir()) == [0, 0, 1]
    assert [p.name for p in (tmp_path / "engines").iterdir() if "partial" in p.name] == []


def test_an_unreadable_engine_is_moved_aside_and_rebuilt_once(
    fake_tensorrt: FakeTensorrt, tmp_path: Path
) -> None:
    tensorrt_upscaler(small_compact(), ANIME, tmp_path)
    [engine] = (tmp_path / "engines").glob("*.ep")
    engine.write_bytes(engine.read_bytes()[:100])  # cut short, as a killed writer would leave it
    rebuilt = tensorrt_upscaler(small_compact(), ANIME, tmp_path)
    assert len(fake_tensorrt.compiled) == 2
    assert list((tmp_path / "engines").glob("*.ep.bad-*"))
    loaded = tensorrt_upscaler(small_compact(), ANIME, tmp_path)  # the rebuilt file now loads
    assert len(fake_tensorrt.compiled) == 2
    frames = np.zeros((2, 40, 48, 3), np.uint8)
    assert rebuilt.upscale(frames).shape == loaded.upscale(frames).shape == (2, 80, 96, 3)


def test_changed_weights_options_or_dtype_build_a_new_engine(
    fake_tensorrt: FakeTensorrt, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = small_compact()
    tensorrt_upscaler(net, ANIME, tmp_path)
    tensorrt_upscaler(small_compact(), ANIME, tmp_path)
    assert len(fake_tensorrt.compiled) == 1  # the same network: loaded
    retrained = small_compact()
    with torch.no_grad():
        next(retrained.parameters())[0, 0, 0, 0] += 0.01
    tensorrt_upscaler(retrained, ANIME, tmp_path)
    assert len(fake_tensorrt.compiled) == 2
    options = tensorrt_backend.compile_options
    monkeypatch.setattr(tensorrt_backend, "compile_options", lambda d: {**options(d), "optimization_level": 5})
    tensorrt_upscaler(small_compact(), ANIME, tmp_path)
    assert len(fake_tensorrt.compiled) == 3
    monkeypatch.setattr(tensorrt_backend, "ENGINE_DTYPE", torch.float32)
    tensorrt_upscaler(small_compact(), ANIME, tmp_path)
    assert len(fake_tensorrt.compiled) == 4


def test_a_change_to_the_graph_code_changes_the_network_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = "from torch import nn\nclass Net(nn.Conv2d):\n    def forward(self, x):\n        return {}\n"
    monkeypatch.syspath_prepend(str(tmp_path))
    digests = []
    for body in ("super().forward(x)", "super().forward(x) * 2"):
        (tmp_path / "graph_under_test.py").write_text(source.format(body))
        sys.modules.pop("graph_under_test", None)
        module = importlib.import_module("graph_under_test")
        torch.manual_seed(0)
        digests.append(network_digest(module.Net(3, 3, 3)))
    monkeypatch.delitem(sys.modules, "graph_under_test")
    assert digests[0] != digests[1]


def peak_map_bytes(shape: tuple[int, ...], area: int) -> int:
    """One 64-channel fp16 map at `area` times the input area, over a whole call."""
    batch, _, height, width = shape
    return batch * height * width * area * 64 * 2


@pytest.mark.parametrize("card_gb", [80, 24])
def test_each_network_gets_a_shape_range_whose_largest_call_fits_the_card(
    fake_tensorrt: FakeTensorrt, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, card_gb: int
) -> None:
    card = card_gb * 10**9
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda device=None: types.SimpleNamespace(total_memory=card))  # fmt: skip
    rrdb = ResizedOutput(RRDBNet(num_block=1), 4, 4).eval()
    tensorrt_upscaler(small_compact(), ANIME, tmp_path)
    tensorrt_upscaler(rrdb, model_for(Mode.live_action, 4), tmp_path)
    compact_max, rrdb_max = fake_tensorrt.max_shapes
    assert compact_max[2:] == (1088, 1920)  # whole 1080p frames
    assert peak_map_bytes(rrdb_max, 16) <= card // 10  # RRDBNet's maps at 4x
    assert peak_map_bytes(compact_max, 1) <= card // 10
    assert rrdb_max[0] * rrdb_max[2] * rrdb_max[3] < compact_max[0] * compact_max[2] * compact_max[3]


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("weights")


@pytest.fixture
def data_dir(tmp_path: Path, weights_dir: Path) -> Path:
    """A fresh data dir (its own engines, its own per-process model cache key) sharing the
    converted weights, so each network is converted once per module."""
    (tmp_path / "models").symlink_to(weights_dir, target_is_directory=True)
    return tmp_path


def test_auto_mode_builds_its_engine_outside_inference_mode(
    fake_tensorrt: FakeTensorrt, data_dir: Path
) -> None:
    settings = Settings(data_dir=data_dir, backend="tensorrt")
    upscaler = load_upscaler(Enhancement(mode=Mode.auto, scale=2), settings)
    upscaler.upscale(cartoon_frame(36, 64)[None])
    [build] = fake_tensorrt.compiled
    assert build["inference_mode"] is False  # torch.export cannot trace under it


def test_auto_falls_back_to_cuda_pytorch_once_a_tensorrt_build_fails(
    fake_tensorrt: FakeTensorrt, data_dir: Path
) -> None:
    fake_tensorrt.fail_compile = True
    settings = Settings(data_dir=data_dir, backend="auto")
    upscaler = load_upscaler(Enhancement(mode=Mode.anime, scale=3), settings)
    assert upscaler.name.endswith("-torch")
    assert load_upscaler(Enhancement(mode=Mode.anime, scale=4), settings).name.endswith("-torch")
    assert len(fake_tensorrt.compiled) == 1  # not tried again for every clip
