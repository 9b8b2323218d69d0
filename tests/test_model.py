"""The PyTorch Real-ESRGAN networks against the shipped ncnn graphs run by ncnn itself,
and the behaviour of the upscalers `load_upscaler` returns."""

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from services.core.errors import Unavailable
from services.core.schemas import Enhancement, Mode
from services.core.settings import Settings
from services.worker.models.catalog import load_network, model_for, ncnn_files
from services.worker.models.compact import SRVGGNetCompact
from services.worker.models.ncnn_format import read_model
from services.worker.models.resized import CompactResized, ResizedOutput
from services.worker.models.selection import choose_backend
from services.worker.models.tiling import upscale_tiled
from services.worker.models.torch_backend import (
    Budget,
    Placement,
    TorchUpscaler,
    check_batch,
    feature_width,
)
from services.worker.upscaler import ResizeUpscaler, load_upscaler
from tests.ncnn_reference import NcnnUpscaler
from tests.patterns import cartoon_frame, natural_frames, psnr


@pytest.fixture(scope="module")
def model_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("data"), backend="torch")


@pytest.mark.parametrize(
    ("mode", "scale"), [(Mode.anime, 2), (Mode.anime, 3), (Mode.anime, 4), (Mode.live_action, 4)]
)
def test_torch_output_matches_ncnn_within_45_db(
    model_settings: Settings, mode: Mode, scale: int
) -> None:
    frames = natural_frames(2, 48, 64)
    ours = load_upscaler(Enhancement(mode=mode, scale=scale), model_settings).upscale(frames)
    reference = NcnnUpscaler(model_for(mode, scale), threads=2).upscale(frames)
    assert ours.shape == reference.shape == (2, 48 * scale, 64 * scale, 3)
    assert psnr(ours, reference) >= 45


@pytest.mark.parametrize("stem", ["REALESRGAN_ANIMAVIDEOV3_UP2X", "REALESRGAN_X4PLUS_UP4X"])
def test_converter_consumes_every_byte_and_refuses_a_truncated_bin(
    stem: str, tmp_path: Path
) -> None:
    param, weights = ncnn_files(stem)
    layers = read_model(param, weights)
    assert sum(w.size for layer in layers for w in layer.weights.values()) > 0
    data = weights.read_bytes()
    for broken in (data[:-4], data + b"\0\0\0\0"):
        (tmp_path / "broken.bin").write_bytes(broken)
        with pytest.raises(ValueError, match="bin"):
            read_model(param, tmp_path / "broken.bin")


def test_converted_weights_are_cached_as_safetensors(tmp_path: Path) -> None:
    spec = model_for(Mode.anime, 2)
    first = load_network(spec, tmp_path)
    cached = list((tmp_path / "models").glob("compact-*.safetensors"))
    assert len(cached) == 1
    again = load_network(spec, tmp_path)
    for a, b in zip(first.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_anime_model_beats_bicubic_on_a_downscaled_cartoon(model_settings: Settings) -> None:
    truth = cartoon_frame(96, 128, seed=7)[None]
    small = F.interpolate(
        torch.from_numpy(truth).permute(0, 3, 1, 2).float(), scale_factor=0.5, mode="bicubic",
        antialias=True,
    ).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()  # fmt: skip
    model = load_upscaler(Enhancement(mode=Mode.anime, scale=2), model_settings).upscale(small)
    bicubic = ResizeUpscaler(2).upscale(small)
    assert psnr(model, truth) > psnr(bicubic, truth)


def test_tiled_output_equals_untiled(model_settings: Settings) -> None:
    net = load_network(model_for(Mode.anime, 2), model_settings.data_dir)
    placement = Placement.best_available(model_settings.data_dir, feature_width(net))
    net = placement.prepare(net)
    whole = TorchUpscaler(net, scale=2, name="whole", budget=Budget(10**8, 20), placement=placement)
    tiled = TorchUpscaler(
        net, scale=2, name="tiled", budget=Budget(80 * 80, 20), placement=placement
    )
    frames = natural_frames(1, 72, 136)
    a, b = whole.upscale(frames), tiled.upscale(frames)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    assert psnr(a, b) > 60


@pytest.mark.parametrize("scale", [2, 3])
@pytest.mark.parametrize(("height", "width"), [(1, 5), (2, 2), (3, 5), (17, 23)])
def test_fused_resize_equals_the_unfused_graph(scale: int, height: int, width: int) -> None:
    torch.manual_seed(scale)
    net = SRVGGNetCompact(num_conv=2).double().eval()
    x = torch.rand(2, 3, height, width, dtype=torch.float64)
    with torch.inference_mode():
        unfused = ResizedOutput(net, 4, scale)(x)
        fused = CompactResized(copy.deepcopy(net), scale).double()(x)
    assert fused.shape == unfused.shape == (2, 3, height * scale, width * scale)
    assert (fused - unfused).abs().max() < 1e-6  # edges included; folded weights are float32


@pytest.mark.parametrize("fused", [True, False])
def test_resized_networks_export_with_a_dynamic_batch_and_frame_size(fused: bool) -> None:
    """TensorRT's dynamo path starts from torch.export with these dynamic dimensions."""
    torch.manual_seed(0)
    small = SRVGGNetCompact(num_conv=1)
    net = (CompactResized(small, 3) if fused else ResizedOutput(small, 4, 3)).eval()
    batch, height, width = (torch.export.Dim(n, min=m, max=1920) for n, m in
                            (("batch", 1), ("height", 16), ("width", 16)))  # fmt: skip
    exported = torch.export.export(
        net, (torch.rand(2, 3, 24, 32),), dynamic_shapes=({0: batch, 2: height, 3: width},)
    )
    x = torch.rand(3, 3, 19, 41)
    with torch.inference_mode():
        assert torch.allclose(exported.module()(x), net(x), atol=1e-6)


def test_tiles_reassemble_exactly_for_a_pointwise_run() -> None:
    x = torch.rand(1, 3, 50, 70)
    out = upscale_tiled(lambda t: F.interpolate(t, scale_factor=3, mode="nearest"), x, 3, 16, 4)
    assert torch.equal(out, F.interpolate(x, scale_factor=3, mode="nearest"))


def test_bad_tensor_shape_is_named_in_the_error() -> None:
    with pytest.raises(ValueError, match=r"\(1, 4, 8, 8\)"):
        check_batch(torch.zeros(1, 4, 8, 8))


def test_bad_frames_are_refused(model_settings: Settings) -> None:
    upscaler = load_upscaler(Enhancement(mode=Mode.anime, scale=2), model_settings)
    with pytest.raises(ValueError, match=r"\(8, 8, 3\)"):
        upscaler.upscale(np.zeros((8, 8, 3), dtype=np.uint8))


def test_upscaler_is_loaded_once_per_process(model_settings: Settings) -> None:
    enhancement = Enhancement(mode=Mode.anime, scale=3)
    first = load_upscaler(enhancement, model_settings)
    assert load_upscaler(enhancement.model_copy(), model_settings) is first
    assert first.scale == 3 and "animevideov3" in first.name


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only selection")
def test_auto_backend_without_cuda_is_torch() -> None:
    assert choose_backend("auto") == "torch"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only selection")
def test_tensorrt_without_cuda_is_a_clear_error() -> None:
    with pytest.raises(Unavailable, match="CUDA"):
        choose_backend("tensorrt")
