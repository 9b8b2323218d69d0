"""Repeated-frame skipping: model time on an animation drawn on twos, with and without it.

The clip is real drawn content (tests/media.drawn_on_twos: each picture held two
frames), encoded as animation is (H.264 by default, VP8 with `--codec vp8`), decoded, and
run through the worker's upscaler (realesr-animevideov3, x2) in the pipeline's batches of
4, once with every frame and once through `SkippingUpscaler`. Prints the model time of
each (best of `--repeats`, interleaved so a busy machine hurts both alike), their ratio,
the share of frames skipped and the worst PSNR of a skipped frame's output against the
model's own output for it. Both wall time and the process's CPU time are shown: on a
shared machine the CPU time is the steadier of the two.

    python -m bench.skip [--size 320x180] [--seconds 2] [--repeats 3] [--codec h264]
"""

import argparse
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import av
import numpy as np

from services.core.schemas import Enhancement, Mode
from services.core.settings import Settings
from services.worker.pipeline import DEFAULT_BATCH_SIZE
from services.worker.repeats import SkippingUpscaler
from services.worker.upscaler import Upscaler, load_upscaler
from tests.media import drawn_on_twos, write_clip
from tests.patterns import psnr


def run(upscaler: Upscaler, frames: np.ndarray) -> tuple[tuple[float, float], np.ndarray]:
    """((wall seconds, CPU seconds), outputs) for the clip in the pipeline's batches."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = [upscaler.upscale(frames[i : i + DEFAULT_BATCH_SIZE]) for i in range(0, len(frames), DEFAULT_BATCH_SIZE)]
    return (time.perf_counter() - wall, time.process_time() - cpu), np.concatenate(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="320x180")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--fps", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--codec", choices=("h264", "vp8"), default="h264")
    args = parser.parse_args()
    width, height = (int(side) for side in args.size.split("x"))
    with TemporaryDirectory() as tmp:
        clip = Path(tmp) / ("anim.mp4" if args.codec == "h264" else "anim.webm")
        write_clip(clip, seconds=args.seconds, width=width, height=height, fps=args.fps,
                   audio=False, draw=drawn_on_twos)
        with av.open(str(clip)) as container:
            frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
        settings = Settings(data_dir=Path(tmp) / "data", backend="torch")
        model = load_upscaler(Enhancement(mode=Mode.anime, scale=2), settings)
        run(model, frames[:DEFAULT_BATCH_SIZE])  # warm-up: first calls pay for allocation
        full_times, skip_times = [], []
        for _ in range(args.repeats):
            seconds, full = run(model, frames)
            full_times.append(seconds)
            skipping = SkippingUpscaler(model, settings.repeated_frame_threshold)
            seconds, reused = run(skipping, frames)
            skip_times.append(seconds)
    repeated = [i for i in range(len(frames)) if not np.array_equal(reused[i], full[i])]
    worst = min((psnr(reused[i], full[i]) for i in repeated), default=float("inf"))
    print(f"clip: {args.codec} {width}x{height} {len(frames)} frames drawn on twos, "
          f"threshold {settings.repeated_frame_threshold:g}, "
          f"{skipping.skipped} of {len(frames)} frames skipped")
    for index, label in enumerate(("wall", "CPU")):
        every, skip = min(t[index] for t in full_times), min(t[index] for t in skip_times)
        print(f"model {label} time: every frame {every:.3f} s, skipping repeats {skip:.3f} s, "
              f"ratio {skip / every:.3f} (cut {100 * (1 - skip / every):.1f}%)")
    print(f"worst PSNR of a skipped frame against the model on it: {worst:.1f} dB")


if __name__ == "__main__":
    main()
