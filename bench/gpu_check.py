"""The first run on a GPU, in one command: what the CUDA path really does.

For every network the catalog serves (`networks`), at 360p, 720p and 1080p: the model's
fps alone and end to end, with the upload, model and download seconds apart, and the GPU
memory it peaked at; then one real clip through `sharpr upscale` in anime and in auto mode,
and the H.264 encoder chosen for each output size. Needs CUDA PyTorch only (no TensorRT, no
network); sized to finish in under 8 minutes on one H100. `--dry-run` runs every step on the
CPU at tiny sizes and checks its own results, so the command is known to work before a GPU
is lent. Paste the output into bench/RESULTS.md.

    python -m bench.gpu_check [--backend torch] [--dry-run]
"""

import argparse
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
import torch

from services.core import localservers
from services.core.schemas import Enhancement, Mode
from services.core.settings import Settings
from services.core.tiers import tiers_at
from services.demo_media import write_clip
from services.media.writer import h264_encoder, nvenc_opens
from services.worker.models.torch_backend import TorchUpscaler, batch_to_frames, frames_to_batch
from services.worker.upscaler import load_upscaler
from tests.patterns import natural_frames

SIZES = {"360p": (640, 360), "720p": (1280, 720), "1080p": (1920, 1080)}
DRY_SIZES = {"tiny": (64, 36), "portrait": (36, 64)}
# Frames per measurement: enough to fill a batch of the compact net, few for RRDBNet.
FRAMES = {"compact": 16, "rrdb": 2}


def networks() -> list[Enhancement]:
    """Every network a worker may load: each mode at each scale, at every tier it has there."""
    return [Enhancement(mode=mode, scale=scale, tier=tier) for mode in (Mode.anime, Mode.live_action)
            for scale in (2, 3, 4) for tier in tiers_at(scale)]  # fmt: skip


@dataclass(frozen=True)
class Timing:
    frames: int
    upload: float
    model: float
    download: float
    end_to_end: float  # `upscale()` on uint8 frames, as the pipeline calls it
    peak_bytes: int

    def row(self, name: str, size: str) -> str:
        n = self.frames
        return (f"| {name} | {size} | {n} | {n / self.model:.2f} | {n / self.end_to_end:.2f} | "
                f"{self.upload * 1000 / n:.1f} | {self.model * 1000 / n:.1f} | "
                f"{self.download * 1000 / n:.1f} | {self.peak_bytes / 2**30:.2f} |")  # fmt: skip


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def measure(upscaler: TorchUpscaler, frames: np.ndarray) -> Timing:
    """One warm call, then the three stages timed apart and the whole path timed alone."""
    upscaler.upscale(frames[:1])
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    _sync()
    started = time.perf_counter()
    x = frames_to_batch(frames, upscaler.device)
    _sync()
    uploaded = time.perf_counter()
    with torch.inference_mode():
        y = upscaler.upscale_batch(x).clamp_(0, 1)
        _sync()
        computed = time.perf_counter()
        out = batch_to_frames(y)
    done = time.perf_counter()
    n, h, w, _ = frames.shape
    if out.shape != (n, h * upscaler.scale, w * upscaler.scale, 3):
        raise AssertionError(f"{upscaler.name} returned {out.shape} for {frames.shape}")
    peak = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else 0
    whole = time.perf_counter()
    upscaler.upscale(frames)
    _sync()
    return Timing(n, uploaded - started, computed - uploaded, done - computed,
                  time.perf_counter() - whole, peak)  # fmt: skip


def model_rows(settings: Settings, sizes: dict[str, tuple[int, int]], frames_cap: int) -> list[str]:
    rows = [("| network | input | frames | model fps | end-to-end fps | upload ms/frame | "
            "model ms/frame | download ms/frame | peak GiB |"), "|" + "---|" * 9]  # fmt: skip
    for enhancement in networks():
        upscaler = load_upscaler(enhancement, settings)
        architecture = "rrdb" if enhancement.mode == Mode.live_action else "compact"
        for label, (width, height) in sizes.items():
            count = min(frames_cap, FRAMES[architecture])
            timing = measure(upscaler, natural_frames(count, height, width))
            rows.append(timing.row(upscaler.name, label))
            print(rows[-1], flush=True)
    return rows


def clip_rows(work: Path, size: tuple[int, int], seconds: float) -> list[str]:
    """One real clip through `sharpr upscale`, as a user would run it, per mode (the
    weights converted above are reused from `work`)."""
    width, height = size
    clip = work / "clip.mp4"
    write_clip(clip, seconds=seconds, width=width, height=height, fps=24)
    rows = []
    for mode in ("anime", "auto"):
        out = work / f"{mode}.mp4"
        started = time.perf_counter()
        result = subprocess.run(localservers.python_command("upscale", str(clip), str(out), "--mode", mode),
                                env=localservers.child_env({"SHARPR_DATA_DIR": str(work)}), capture_output=True, text=True,
                                check=False, timeout=300)  # fmt: skip
        wall = time.perf_counter() - started
        if result.returncode != 0 or not out.exists():
            raise AssertionError(f"sharpr upscale --mode {mode} failed: {result.stderr[-2000:]}")
        found = re.search(r"event=upscaled .*frames=(\d+) size=(\d+)x(\d+) wall=([\d.]+) model=([\d.]+)",
                          result.stderr)  # fmt: skip
        if found is None or (int(found[2]), int(found[3])) != (width * 2, height * 2):
            raise AssertionError(f"sharpr upscale --mode {mode} logged no upscaled clip at x2")
        frames, wall_in, model = int(found[1]), float(found[4]), float(found[5])
        rows.append(f"sharpr upscale --mode {mode}: {frames} frames {width}x{height} -> x2 in "
                    f"{wall:.1f} s with start-up ({frames / wall_in:.1f} fps transcode, model "
                    f"{model:.1f} s)")  # fmt: skip
        print(rows[-1], flush=True)
    return rows


def encoder_rows() -> list[str]:
    rows = [f"NVENC opens on this machine: {nvenc_opens()}"]
    for label, (width, height) in SIZES.items():
        chosen = {scale: h264_encoder(width * scale, height * scale) for scale in (2, 3, 4)}
        rows.append(f"encoder for {label}: " + ", ".join(f"x{s} {e}" for s, e in chosen.items()))
    print("\n".join(rows), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("auto", "torch", "tensorrt"), default="torch")
    parser.add_argument("--dry-run", action="store_true",
                        help="every step on the CPU at tiny sizes, checking its own results")
    args = parser.parse_args()
    if not args.dry_run and not torch.cuda.is_available():
        sys.exit("bench.gpu_check: no CUDA device (use --dry-run to check the steps on the CPU)")
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU (dry run)"
    print(f"device={device} torch={torch.__version__} backend={args.backend}", flush=True)
    started = time.perf_counter()
    with TemporaryDirectory() as data_dir:
        settings = Settings(data_dir=Path(data_dir), backend=args.backend)
        sizes, frames_cap = (DRY_SIZES, 1) if args.dry_run else (SIZES, max(FRAMES.values()))
        model_rows(settings, sizes, frames_cap)
        clip_rows(Path(data_dir), (64, 36) if args.dry_run else SIZES["360p"],
                  0.5 if args.dry_run else 4.0)  # fmt: skip
        encoder_rows()
    print(f"total {time.perf_counter() - started:.0f} s", flush=True)
    if args.dry_run:
        print("dry run: every step ran and checked its output", flush=True)


if __name__ == "__main__":
    main()
