"""Synthetic frames that look like video content: gradients, hard edges, text-like strokes,
soft shapes and sensor noise. Used to check the networks against ncnn and to benchmark
them; a constant frame would hide almost every conversion bug.
"""

import numpy as np


def natural_frame(height: int, width: int, seed: int = 0) -> np.ndarray:
    """One (H, W, 3) uint8 frame, deterministic for a seed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack(
        [x / width, y / height, 0.5 + 0.5 * np.sin((x + 2 * y) / max(width, height) * 6)], axis=-1
    )
    for _ in range(6):  # flat-coloured shapes with hard edges, like cel animation
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        r = rng.uniform(0.08, 0.3) * min(height, width)
        img[(y - cy) ** 2 + (x - cx) ** 2 < r**2] = rng.uniform(0, 1, 3)
    for _ in range(max(2, height // 12)):  # dark one-pixel strokes, like lines of text
        row, start = int(rng.integers(0, height)), int(rng.integers(0, width // 2))
        img[row, start : start + int(rng.integers(4, width // 2))] = 0.05
        col = int(rng.integers(0, width))
        img[row : row + int(rng.integers(3, 8)), col] = 0.05
    img += rng.normal(0, 0.02, img.shape).astype(np.float32)
    return (img.clip(0, 1) * 255).round().astype(np.uint8)


def natural_frames(count: int, height: int, width: int) -> np.ndarray:
    return np.stack([natural_frame(height, width, seed) for seed in range(count)])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 images."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def cartoon_frame(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Cel-shaded content: flat shapes with dark outlines on a smooth sky, no noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([0.4 + 0.3 * y / height, 0.6 + 0.2 * y / height, np.full_like(x, 0.9)], -1)
    for _ in range(5):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        r = rng.uniform(0.15, 0.35) * min(height, width)
        distance = np.sqrt((y - cy) ** 2 + (x - cx) ** 2)
        img[distance < r] = rng.uniform(0.2, 1, 3)
        img[np.abs(distance - r) < 1.5] = 0.08  # the ink outline
    return (img * 255).round().astype(np.uint8)
