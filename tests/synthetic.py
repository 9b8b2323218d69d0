"""A labelled set of synthetic frames for measuring the content-type detector.

Cartoon-like frames: flat fills on flat or smoothly graded backgrounds, dark outlines,
cel shading (a second, darker flat tone across each shape), antialiased by rendering at
twice the size, some with the faint noise a video codec leaves. Photo-like frames: 1/f
("natural image") spectra, smooth gradients and defocused shapes, all under sensor grain.
Deterministic per seed, uint8 (N, H, W, 3) like decoded video.
"""

import numpy as np

from services.core.schemas import Mode

SIZES = ((48, 64), (90, 160), (180, 320), (360, 640))


def _area_half(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[0] // 2, img.shape[1] // 2
    return img[: 2 * h, : 2 * w].reshape(h, 2, w, 2, 3).mean((1, 3))


def cartoon_like(height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    h, w = 2 * height, 2 * width
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    top, bottom = rng.uniform(0.2, 1, 3), rng.uniform(0.2, 1, 3)
    graded = rng.random() < 0.5
    img = (
        top + (bottom - top) * (y / h)[..., None]
        if graded
        else np.broadcast_to(top, (h, w, 3)).copy()
    )
    for _ in range(rng.integers(3, 9)):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        ry, rx = rng.uniform(0.08, 0.35, 2) * min(h, w)
        d = np.sqrt(((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2)
        fill = rng.uniform(0.1, 1, 3)
        img[d < 1] = fill
        angle = rng.uniform(0, 2 * np.pi)  # cel shading: the shadow side of the shape
        shadow = (d < 1) & ((x - cx) * np.cos(angle) + (y - cy) * np.sin(angle) > 0.3 * rx)
        img[shadow] = fill * rng.uniform(0.55, 0.8)
        img[np.abs(d - 1) < rng.uniform(1.0, 3.0) / min(ry, rx)] = rng.uniform(0, 0.15)  # outline
    img = _area_half(img)
    img = img + rng.normal(0, rng.uniform(0, 1.0) / 255, img.shape)  # codec noise
    return (img.clip(0, 1) * 255).round().astype(np.uint8)


def _one_over_f(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    f = np.sqrt(fx**2 + fy**2)
    f[0, 0] = 1.0
    amplitude = f ** -rng.uniform(0.8, 1.3)  # power ~ 1/f^(1.6..2.6)
    amplitude[0, 0] = 0
    channels = []
    base_phase = rng.uniform(0, 2 * np.pi, amplitude.shape)
    for _ in range(3):  # colour channels share most of their structure, as in photos
        phase = base_phase + rng.normal(0, 0.4, amplitude.shape)
        channels.append(np.fft.irfft2(amplitude * np.exp(1j * phase), s=(height, width)))
    img = np.stack(channels, -1)
    img = (img - img.mean()) / (img.std() + 1e-9)
    return 0.5 + rng.uniform(0.1, 0.2) * img


def photo_like(height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32) / max(height, width)
    kind = rng.integers(3)
    if kind == 0:  # natural-image-like spectrum
        img = _one_over_f(height, width, rng)
    elif kind == 1:  # smooth gradients (sky, walls, skin)
        img = rng.uniform(0.2, 0.8, 3) + rng.uniform(-0.3, 0.3, 3) * (x + y)[..., None]
        for _ in range(4):
            cy, cx, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.1, 0.5)
            img = (
                img
                + rng.uniform(-0.3, 0.3, 3)
                * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / r**2)[..., None]
            )
    else:  # defocused objects over texture
        img = _one_over_f(height, width, rng)
        for _ in range(4):
            cy, cx, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.3)
            edge = 0.5 - 0.5 * np.tanh(
                (np.sqrt((y - cy) ** 2 + (x - cx) ** 2) - r) * max(height, width) / 4
            )
            img = img * (1 - edge[..., None]) + rng.uniform(0.1, 0.9, 3) * edge[..., None]
        img = img + 0.04 * (_one_over_f(height, width, rng) - 0.5)
    img = img + rng.normal(0, rng.uniform(1.5, 5.0) / 255, img.shape)  # sensor grain
    return (img.clip(0, 1) * 255).round().astype(np.uint8)


def labelled_set(
    per_size: int, first_seed: int = 0, sizes: tuple[tuple[int, int], ...] = SIZES
) -> list[tuple[np.ndarray, Mode]]:
    """`per_size` clips of each kind at every (height, width): (frames (3, H, W, 3), label)."""
    samples = []
    for height, width in sizes:
        for i in range(per_size):
            seed = first_seed + i * 3
            cartoon = np.stack([cartoon_like(height, width, seed + k) for k in range(3)])
            photo = np.stack([photo_like(height, width, seed + k) for k in range(3)])
            samples += [(cartoon, Mode.anime), (photo, Mode.live_action)]
    return samples
