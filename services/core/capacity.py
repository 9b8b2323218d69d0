"""What the fleet keeps up with: each worker's measured throughput, and their sum.

A worker records input (pre-upscale) pixels per second per mode, tier and scale after every
clip (a running average over recent clips) and once from its warm-up before any clip, and
marks itself seen with every RQ heartbeat. The API sums the workers seen within
`capacity_stale_seconds`; one unheard of for longer (stopped or killed) drops out and its
record is deleted. Two hashes, so the heartbeat (a thread) never rewrites the rates the
job thread writes.
"""

import os
import time

from pydantic import BaseModel, TypeAdapter
from redis import Redis
from redis.client import Pipeline

from services.core import keys

# Weight of the newest clip in a worker's running average: recent clips dominate, one
# odd clip (a still scene, a busy machine) moves the figure only halfway.
NEWEST_WEIGHT = 0.5


class Rate(BaseModel):
    input_pixels_per_second: float
    clips: int = 0  # 0: measured by the warm-up only


_RATES = TypeAdapter(dict[str, Rate])


class FleetRate(BaseModel):
    mode: str
    tier: str
    scale: int
    input_pixels_per_second: float
    workers: int


def this_worker() -> str:
    """The name this process records under (and runs its RQ worker as)."""
    return f"upscale-{os.uname().nodename}-{os.getpid()}"


def rate_key(mode: str, tier: str, scale: int) -> str:
    return f"{mode}:{tier}:{scale}"


def blended(previous: Rate | None, measured: float, from_clip: bool) -> Rate:
    """The new record: a clip's figure replaces a warm-up estimate and is averaged with
    earlier clips'; a warm-up figure replaces an earlier one (the warm-up's rounds record
    their best so far) and never overrides clips."""
    if previous is None or previous.clips == 0:
        return Rate(input_pixels_per_second=measured, clips=int(from_clip))
    if not from_clip:
        return previous
    average = NEWEST_WEIGHT * measured + (1 - NEWEST_WEIGHT) * previous.input_pixels_per_second
    return Rate(input_pixels_per_second=average, clips=previous.clips + 1)


def record_throughput(
    redis: Redis, worker: str, mode: str, tier: str, scale: int, pixels: float, seconds: float,
    *, from_clip: bool = True,
) -> None:
    """Add one measurement (`pixels` input pixels in `seconds`) to this worker's record.
    Only the worker itself writes its field, so read-then-write is safe."""
    if seconds <= 0 or pixels <= 0:
        return
    raw = redis.hget(keys.REDIS_CAPACITY_RATES, worker)
    rates = _parse_rates(raw)
    key = rate_key(mode, tier, scale)
    rates[key] = blended(rates.get(key), pixels / seconds, from_clip)
    pipe = redis.pipeline(transaction=False)
    pipe.hset(keys.REDIS_CAPACITY_RATES, worker, _dump_rates(rates))
    mark_seen(pipe, worker)
    pipe.execute()


def mark_seen(redis: Redis | Pipeline, worker: str) -> None:
    redis.hset(keys.redis_capacity_seen(), worker, str(time.time()))


def fleet_capacity(redis: Redis, stale_seconds: float, now: float | None = None) -> list[FleetRate]:
    """Per mode, tier and scale, the sum over workers seen within `stale_seconds`; the records
    of workers unheard of for longer are deleted."""
    now = time.time() if now is None else now
    pipe = redis.pipeline(transaction=False)
    pipe.hgetall(keys.redis_capacity_seen())
    pipe.hgetall(keys.REDIS_CAPACITY_RATES)
    seen, rates = pipe.execute()
    live = {worker for worker, at in seen.items() if now - float(at) <= stale_seconds}
    gone = (set(seen) | set(rates)) - live
    if gone:
        pipe = redis.pipeline(transaction=False)
        pipe.hdel(keys.redis_capacity_seen(), *gone)
        pipe.hdel(keys.REDIS_CAPACITY_RATES, *gone)
        pipe.execute()
    return sum_rates([_parse_rates(raw) for worker, raw in rates.items() if worker in live])


def sum_rates(workers: list[dict[str, Rate]]) -> list[FleetRate]:
    """Each worker's rates added up per mode, tier and scale, in a stable order."""
    totals: dict[str, tuple[float, int]] = {}
    for rates in workers:
        for key, rate in rates.items():
            pixels, count = totals.get(key, (0.0, 0))
            totals[key] = (pixels + rate.input_pixels_per_second, count + 1)
    fleet = []
    for key, (pixels, count) in sorted(totals.items()):
        mode, tier, scale = key.split(":")
        fleet.append(FleetRate(mode=mode, tier=tier, scale=int(scale),
                               input_pixels_per_second=round(pixels, 1), workers=count))
    return fleet


def _parse_rates(raw: bytes | None) -> dict[str, Rate]:
    return _RATES.validate_json(raw) if raw else {}


def _dump_rates(rates: dict[str, Rate]) -> bytes:
    return _RATES.dump_json(rates)
