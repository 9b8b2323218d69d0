"""Dim-scene lift: the real network sees a lifted dark scene, the exact inverse restores its
brightness, and a shot keeps one gain from its first frame to the cut."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from services.core.schemas import Enhancement, Mode
from services.core.settings import Settings
from services.worker.enhance.dim_scenes import DimSceneLift
from services.worker.enhance.tone import lift, unlift
from services.worker.upscaler import load_upscaler

DARKNESS = 0.1  # the scene's brightest white, as a share of full scale


@pytest.fixture(scope="module")
def model_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("data"), backend="torch")


def fine_detail_scene(height: int, width: int, seed: int = 0) -> np.ndarray:
    """(H, W, 3) float in [0, 1]: graded walls, stripe textures and thin strokes."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([0.3 + 0.4 * x / width, 0.4 + 0.3 * y / height, np.full_like(x, 0.5)], -1)
    img[(np.sin(x / 3.0) > 0) & (y < height // 3)] *= 0.4
    img[(np.sin((x + y) / 5.0) > 0.5) & (y > 2 * height // 3)] = (0.9, 0.8, 0.6)
    for _ in range(60):
        top, left, length = rng.integers(0, height), rng.integers(0, width), rng.integers(8, 60)
        if rng.random() < 0.5:
            img[top : top + 2, left : left + length] = rng.uniform(0, 1, 3)
        else:
            img[top : top + length, left : left + 2] = rng.uniform(0, 1, 3)
    return img.clip(0, 1)


def gradient_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    def gradients(v: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [(v[..., 1:, :] - v[..., :-1, :]).flatten(), (v[..., :, 1:] - v[..., :, :-1]).flatten()]
        )

    ga, gb = gradients(a), gradients(b)
    ga, gb = ga - ga.mean(), gb - gb.mean()
    return float(ga @ gb / (ga.norm() * gb.norm()))


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / ((a - b) ** 2).mean()))


def test_unlift_inverts_lift_exactly() -> None:
    x = torch.rand(5, 3, 16, 16, dtype=torch.float64)
    gains = torch.tensor([1.0, 1.5, 3.0, 6.0, 8.0], dtype=torch.float64)
    lifted = lift(x, gains)
    assert lifted.min() >= 0 and lifted.max() <= 1
    assert torch.allclose(unlift(lifted, gains), x, atol=1e-12)
    assert torch.equal(lift(x, torch.ones(5, dtype=torch.float64)), x)


def test_lift_recovers_more_detail_of_a_dark_scene_at_the_same_brightness(
    model_settings: Settings,
) -> None:
    truth = torch.from_numpy(fine_detail_scene(192, 256)).permute(2, 0, 1)[None] * DARKNESS
    small = F.interpolate(truth, scale_factor=0.25, mode="area")  # rendered large, shown at 64x48
    frames = (small * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    outputs = {}
    for dim_lift in (False, True):
        upscaler = load_upscaler(
            Enhancement(mode=Mode.anime, scale=4, dim_lift=dim_lift), model_settings
        )
        outputs[dim_lift] = (
            torch.from_numpy(upscaler.upscale(frames)).permute(0, 3, 1, 2).float() / 255
        )
    plain, lifted = outputs[False], outputs[True]
    print(
        f"dark scene x4: PSNR {psnr(plain, truth):.2f} -> {psnr(lifted, truth):.2f} dB, gradient correlation "
        f"{gradient_correlation(plain, truth):.3f} -> {gradient_correlation(lifted, truth):.3f}, mean "
        f"{plain.mean():.4f} -> {lifted.mean():.4f}"
    )
    assert psnr(lifted, truth) > psnr(plain, truth) + 0.5
    assert gradient_correlation(lifted, truth) > gradient_correlation(plain, truth) + 0.05
    assert abs(float(lifted.mean() / plain.mean()) - 1) < 0.02


def shot(frames: int, darkness: float, seed: int) -> np.ndarray:
    """A panning shot of the scene with its light flickering by a few percent."""
    scene = fine_detail_scene(48, 96, seed)
    light = 1 + 0.05 * np.sin(np.arange(frames))
    pans = [scene[:, i * 4 : i * 4 + 64] * darkness * light[i] for i in range(frames)]
    return (np.stack(pans) * 255).round().astype(np.uint8)


def test_a_shot_keeps_one_gain_across_batches_until_the_cut(model_settings: Settings) -> None:
    clip = np.concatenate([shot(7, 0.15, seed=1), shot(6, 0.3, seed=2), shot(5, 1.0, seed=3)])
    dim = DimSceneLift()
    gains = torch.cat([dim.gains(torch.from_numpy(clip[i : i + 4]).permute(0, 3, 1, 2).float() / 255)
                       for i in range(0, len(clip), 4)]).tolist()  # fmt: skip
    first, second, third = gains[:7], gains[7:13], gains[13:]
    assert len(set(first)) == len(set(second)) == len(set(third)) == 1, gains
    assert first[0] > second[0] > third[0] == 1.0

    upscaler = load_upscaler(Enhancement(mode=Mode.anime, scale=2, dim_lift=True), model_settings)
    out = np.concatenate([upscaler.upscale(clip[i : i + 4]) for i in range(0, len(clip), 4)])
    ratio = out[:7].mean((1, 2, 3)) / clip[:7].mean((1, 2, 3))  # output follows the input's light
    assert ratio.max() - ratio.min() < 0.01, ratio
