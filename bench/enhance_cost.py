"""What the enhancements cost beside the network, for `bench/model.py`.

Times each piece on the tensors it really sees (the lift's statistics and curve on the
input batch, its inverse on the upscaled batch, the daltonization on the input, the content
detector on one batch per clip) against the network's own time on the same batch.

    python -m bench.enhance_cost [--size 640x360] [--frames 4] [--repeats 3]
"""

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from tempfile import TemporaryDirectory

import torch

from services.core.schemas import ColorVision, Enhancement, Mode
from services.core.settings import Settings
from services.worker.enhance.color_vision import daltonize
from services.worker.enhance.content import detect_mode
from services.worker.enhance.dim_scenes import DimSceneLift
from services.worker.enhance.tone import lift, unlift
from services.worker.models import TorchUpscaler
from services.worker.models.torch_backend import frames_to_batch
from services.worker.upscaler import load_upscaler
from tests.patterns import natural_frames

CLIP_FRAMES = 300  # 10 s at 30 fps: the content detector runs once per clip


def _best_seconds(run: Callable[[], object], repeats: int, device: torch.device) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - started)
    return best


def enhancement_cost(model: TorchUpscaler, x: torch.Tensor, repeats: int) -> dict[str, float]:
    """Seconds per frame of the network and of each enhancement on batch `x` (NCHW float
    on the model's device); "auto" is the detector's cost spread over a clip."""
    n, device = len(x), x.device
    with torch.inference_mode():
        # The lift works only on dark shots (elsewhere the wrapper skips it): time it on
        # the frames darkened, and its inverse on what the network makes of them lifted.
        dark = x * 0.25
        y = model.upscale_batch(lift(dark, DimSceneLift().gains(dark))).float()

        def dim_lift() -> None:
            g = DimSceneLift().gains(dark)
            lift(dark, g)
            unlift(y, g)

        seconds = {
            "model": _best_seconds(lambda: model.upscale_batch(x), repeats, device),
            "dim_lift": _best_seconds(dim_lift, repeats, device),
            "color_vision": _best_seconds(
                lambda: daltonize(x, ColorVision.deuteranopia, 1.0), repeats, device
            ),
            "auto": _best_seconds(lambda: detect_mode(x), repeats, device) * n / CLIP_FRAMES,
        }
    return {name: s / n for name, s in seconds.items()}


def print_enhancement_cost(model: TorchUpscaler, x: torch.Tensor, repeats: int) -> None:
    cost = enhancement_cost(model, x, repeats)
    model_s = cost.pop("model")
    _, _, h, w = x.shape
    print(
        f"enhancements on {model.name}, {len(x)} frames of {w}x{h}: model {model_s * 1e3:.1f} ms/frame"
    )
    for name, s in cost.items():
        print(f"  {name:<13} {s * 1e3:8.2f} ms/frame  {s / model_s:7.2%} of model time")
    total = sum(cost.values())
    print(f"  {'all three':<13} {total * 1e3:8.2f} ms/frame  {total / model_s:7.2%} of model time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    with TemporaryDirectory() as data_dir:
        settings = Settings(data_dir=Path(data_dir))
        model = load_upscaler(Enhancement(mode=Mode.anime, scale=2), settings)
        x = frames_to_batch(natural_frames(args.frames, height, width), model.device)
        print_enhancement_cost(model, x, args.repeats)


if __name__ == "__main__":
    main()
