"""Model throughput: every available backend against ncnn's CPU path, same frames, same threads.

Prints one row per (backend, input size): fps (x2 output, realesr-animevideov3), the ncnn
CPU fps on the same frames with the same thread count, their ratio, and the PSNR of our
output against ncnn's; then the cost of the tiled path, and of the three enhancements
(dim-scene lift, colour-vision grading, auto content type) beside the model's own time. Timings are the
best of `--repeats` runs, interleaved with ncnn's so a busy shared machine hurts both alike.

    python -m bench.model [--repeats 3] [--sizes 320x180,640x360,1280x720]
"""

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
import torch

from bench.enhance_cost import print_enhancement_cost
from services.core.schemas import Mode
from services.worker.models.catalog import load_network, model_for
from services.worker.models.cpu_features import cpu_has_bf16
from services.worker.models.selection import tensorrt_usable
from services.worker.models.torch_backend import (
    Budget,
    Placement,
    TorchUpscaler,
    cpu_placement,
    feature_width,
    frames_to_batch,
)
from services.worker.models.winograd import winograd_kernel
from services.worker.upscaler import Upscaler
from tests.ncnn_reference import NcnnUpscaler
from tests.patterns import natural_frames, psnr

# Enough frames per call to show batching, few enough for a 2-core box.
FRAMES_PER_SIZE = {320 * 180: 4, 640 * 360: 2, 1280 * 720: 1}


def best_seconds(run: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def backends(data_dir: Path) -> dict[str, Upscaler]:
    """Every CPU placement this machine has, the one a CPU worker picks last of them, then
    CUDA and TensorRT where there is a GPU (`shipped_torch` takes the last torch one)."""
    spec = model_for(Mode.anime, 2)
    net = load_network(spec, data_dir)
    cpu = torch.device("cpu")
    placements = {"torch-fp32-cl": Placement(cpu, torch.float32, torch.channels_last)}
    if cpu_has_bf16():
        placements["torch-bf16-cl"] = Placement(cpu, torch.bfloat16, torch.channels_last)
    kernel = winograd_kernel(data_dir / "kernels")
    if kernel is not None:
        placements["torch-fp32-winograd"] = Placement(
            cpu, torch.float32, torch.channels_last, kernel
        )
    width = feature_width(net)
    chosen = cpu_placement(data_dir, width)
    label = next(label for label, p in placements.items() if p == chosen)
    placements[label] = placements.pop(label)  # the CPU's choice goes after the others
    if torch.cuda.is_available():
        placements["torch-cuda-fp16"] = Placement.best_available(data_dir, width)
    found: dict[str, Upscaler] = {}
    for label, placement in placements.items():
        prepared = placement.prepare(load_network(spec, data_dir))
        budget = Budget.for_network(spec.architecture.name, placement.device)
        found[label] = TorchUpscaler(
            prepared, scale=2, name=label, budget=budget, placement=placement
        )
    if tensorrt_usable():
        from services.worker.models.tensorrt_backend import tensorrt_upscaler

        found["tensorrt"] = tensorrt_upscaler(net, spec, data_dir)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", default="320x180,640x360,1280x720")
    args = parser.parse_args()
    threads = torch.get_num_threads()
    ncnn = NcnnUpscaler(model_for(Mode.anime, 2), threads=threads)
    with TemporaryDirectory() as data_dir:
        found = backends(Path(data_dir))
        print(f"threads={threads} torch={torch.__version__} cpu_bf16={cpu_has_bf16()}")
        header = ("backend", "input", "frames", "fps", "ncnn fps", "ratio", "PSNR dB")
        print("{:<20} {:>9} {:>6} {:>7} {:>8} {:>6} {:>8}".format(*header))
        for size in args.sizes.split(","):
            width, height = map(int, size.split("x"))
            frames = natural_frames(FRAMES_PER_SIZE.get(width * height, 1), height, width)
            reference = ncnn.upscale(frames)
            for label, upscaler in found.items():
                ours = upscaler.upscale(frames)  # warm-up; also the output compared
                ours_s = ncnn_s = float("inf")
                for _ in range(args.repeats):  # interleaved: contention hits both alike
                    ours_s = min(ours_s, best_seconds(lambda u=upscaler, f=frames: u.upscale(f), 1))
                    ncnn_s = min(ncnn_s, best_seconds(lambda f=frames: ncnn.upscale(f), 1))
                fps, ncnn_fps = len(frames) / ours_s, len(frames) / ncnn_s
                print(
                    f"{label:<20} {size:>9} {len(frames):>6} {fps:>7.2f} {ncnn_fps:>8.2f} "
                    f"{fps / ncnn_fps:>6.2f} {psnr(ours, reference):>8.1f}"
                )
        shipped_label, shipped = shipped_torch(found)
        tiling_cost(shipped_label, shipped, args.repeats)
        frames = natural_frames(2, 360, 640)
        print_enhancement_cost(shipped, frames_to_batch(frames, shipped.device), args.repeats)


def shipped_torch(found: dict[str, Upscaler]) -> tuple[str, TorchUpscaler]:
    """The torch placement the worker uses on this machine (the last one `backends` adds)."""
    return [(label, u) for label, u in found.items() if isinstance(u, TorchUpscaler)][-1]


def tiling_cost(label: str, whole: TorchUpscaler, repeats: int) -> None:
    """The same frames whole and in overlapping tiles of ~320x320 padded pixels."""
    budget = Budget(320 * 320, overlap=whole.budget.overlap, max_batch=1)
    tiled = TorchUpscaler(
        whole.module, scale=2, name="tiled", budget=budget, placement=whole.placement
    )
    for height, width in ((360, 640), (720, 1280)):
        frame = natural_frames(1, height, width)
        whole_s = best_seconds(lambda f=frame: whole.upscale(f), repeats)
        tiled_s = best_seconds(lambda f=frame: tiled.upscale(f), repeats)
        diff = np.abs(whole.upscale(frame).astype(int) - tiled.upscale(frame).astype(int)).max()
        print(
            f"tiling {label} {width}x{height} (budget {tiled.budget.max_pixels} px, overlap "
            f"{tiled.budget.overlap}): whole {whole_s:.2f}s, tiled {tiled_s:.2f}s "
            f"({tiled_s / whole_s - 1:+.0%}), max pixel difference {diff}"
        )


if __name__ == "__main__":
    main()
