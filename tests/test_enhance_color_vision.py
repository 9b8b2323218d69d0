"""Colour-vision grading: colours a dichromat confuses are told apart after daltonization
(CIEDE2000 between what they see), and strength 0 changes nothing."""

from pathlib import Path

import numpy as np
import pytest
import torch

from services.core.schemas import ColorVision, Enhancement, Mode
from services.core.settings import Settings
from services.worker.enhance.color_vision import (
    daltonize,
    simulate,
    simulation_matrix,
)
from services.worker.upscaler import load_upscaler

KINDS = [ColorVision.protanopia, ColorVision.deuteranopia, ColorVision.tritanopia]


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] (..., 3) -> CIELAB under D65."""
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = (
        linear
        @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
    )
    t = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1
    )


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference (Sharma, Wu and Dalal 2005), kL = kC = kH = 1."""
    L1, a1, b1 = np.moveaxis(lab1, -1, 0)
    L2, a2, b2 = np.moveaxis(lab2, -1, 0)
    c_bar = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_bar**7 / (c_bar**7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p, h2p = np.degrees(np.arctan2(b1, a1p)) % 360, np.degrees(np.arctan2(b2, a2p)) % 360
    dL, dC = L2 - L1, c2p - c1p
    dh = h2p - h1p
    dh = np.where(
        c1p * c2p == 0, 0, np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    )
    dH = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    L_bar, cp_bar = (L1 + L2) / 2, (c1p + c2p) / 2
    h_sum = h1p + h2p
    h_bar = np.where(
        c1p * c2p == 0, h_sum,
        np.where(np.abs(h1p - h2p) <= 180, h_sum / 2, np.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2)),
    )  # fmt: skip
    t = (1 - 0.17 * np.cos(np.radians(h_bar - 30)) + 0.24 * np.cos(np.radians(2 * h_bar))
         + 0.32 * np.cos(np.radians(3 * h_bar + 6)) - 0.20 * np.cos(np.radians(4 * h_bar - 63)))  # fmt: skip
    sl = 1 + 0.015 * (L_bar - 50) ** 2 / np.sqrt(20 + (L_bar - 50) ** 2)
    sc, sh = 1 + 0.045 * cp_bar, 1 + 0.015 * cp_bar * t
    rt = (-2 * np.sqrt(cp_bar**7 / (cp_bar**7 + 25.0**7))
          * np.sin(np.radians(60 * np.exp(-(((h_bar - 275) / 25) ** 2)))))  # fmt: skip
    return np.sqrt((dL / sl) ** 2 + (dC / sc) ** 2 + (dH / sh) ** 2 + rt * (dC / sc) * (dH / sh))


def test_ciede2000_matches_sharma_reference_pairs() -> None:
    pairs = [  # Sharma et al. 2005, Table 1, pairs 1, 7 and 17
        ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
        ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
        ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ]
    for lab1, lab2, expected in pairs:
        assert ciede2000(np.array(lab1), np.array(lab2)) == pytest.approx(expected, abs=1e-4)


def confused_pairs(kind: ColorVision) -> tuple[torch.Tensor, torch.Tensor]:
    """24 sRGB colour pairs (M, 3) far apart (CIEDE2000 > 10) that a viewer of `kind` sees
    as nearly equal (< 5): stepped along the linear-RGB direction the simulation loses most."""
    blind = torch.linalg.svd(simulation_matrix(kind)).Vh[-1]
    rng = np.random.default_rng(7)
    base = torch.from_numpy(rng.uniform(0.1, 0.9, (4000, 3)))
    step = torch.from_numpy(rng.uniform(0.1, 0.4, (4000, 1))) * blind
    lin_a, lin_b = base - step, base + step
    inside = ((lin_a >= 0) & (lin_a <= 1) & (lin_b >= 0) & (lin_b <= 1)).all(1)
    to_srgb = lambda v: torch.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055)
    a, b = to_srgb(lin_a[inside]), to_srgb(lin_b[inside])
    actual = ciede2000(srgb_to_lab(a.numpy()), srgb_to_lab(b.numpy()))
    confused = np.flatnonzero((actual > 10) & (seen_difference(a, b, kind) < 5))[:24]
    assert len(confused) == 24
    return a[confused], b[confused]


def seen_difference(a: torch.Tensor, b: torch.Tensor, kind: ColorVision) -> np.ndarray:
    """CIEDE2000 between what a viewer of `kind` sees of sRGB colours a and b (M, 3)."""
    seen = [
        simulate(c.T.reshape(1, 3, 1, -1).float(), kind)[0, :, 0].T.double().numpy() for c in (a, b)
    ]
    return ciede2000(srgb_to_lab(seen[0]), srgb_to_lab(seen[1]))


@pytest.mark.parametrize("kind", KINDS)
def test_daltonization_separates_colours_the_viewer_confuses(kind: ColorVision) -> None:
    a, b = confused_pairs(kind)
    before = seen_difference(a, b, kind)
    as_batch = lambda c: c.T.reshape(1, 3, 1, -1).float()
    fixed = [daltonize(as_batch(c), kind, 1.0)[0, :, 0].T.double() for c in (a, b)]
    after = seen_difference(fixed[0], fixed[1], kind)
    print(f"{kind}: seen CIEDE2000 median {np.median(before):.2f} -> {np.median(after):.2f} after "
          f"daltonization; improved {np.mean(after > before):.0%} of {len(before)} pairs")  # fmt: skip
    assert np.median(after) > np.median(before) + 3
    assert np.mean(after > before) >= 0.9


@pytest.mark.parametrize("kind", KINDS)
def test_strength_zero_is_the_identity(kind: ColorVision, tmp_path: Path) -> None:
    x = torch.rand(2, 3, 8, 8)
    assert torch.equal(daltonize(x, kind, 0.0), x)
    half, full = daltonize(x, kind, 0.5), daltonize(x, kind, 1.0)
    assert torch.allclose(half, (x + full) / 2, atol=1e-6)
    frames = np.random.default_rng(0).integers(0, 256, (1, 12, 16, 3), dtype=np.uint8)
    settings = Settings(data_dir=tmp_path, backend="torch")
    plain = load_upscaler(Enhancement(mode=Mode.anime, scale=2), settings).upscale(frames)
    graded = load_upscaler(
        Enhancement(mode=Mode.anime, scale=2, color_vision=kind, color_vision_strength=0.0),
        settings,
    )
    assert np.array_equal(graded.upscale(frames), plain)
