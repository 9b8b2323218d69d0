"""RQ wiring: queue names, job names (dotted paths) and the enqueue calls.

Jobs are enqueued by dotted path so the API never imports torch and the packager never
imports the worker. Job ids are deterministic, so enqueueing twice is harmless.
"""

import time
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.asyncio.retry import Retry as AsyncRedisRetry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry as RedisRetry
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Callback, Job

from services.core import keys
from services.core.settings import Settings

UPSCALE_QUEUE = "upscale"
PACKAGE_QUEUE = "package"
INGEST_QUEUE = "ingest"

UPSCALE_JOB = "services.worker.jobs.upscale_clip"
# Runs after every failed attempt; it fails the clip once no retry is left.
UPSCALE_FAILED_CALLBACK = "services.worker.jobs.upscale_failed"
# What a clip gets once its upscale has failed on every retry: published without the model.
UNENHANCED_JOB = "services.worker.jobs.publish_unenhanced"
UNENHANCED_FAILED_CALLBACK = "services.worker.jobs.unenhanced_failed"
WARM_JOB = "services.worker.jobs.warm_model"
PACKAGE_JOB = "services.packager.jobs.package_clip"
INGEST_JOB = "services.ingest.jobs.ingest_video"
FOLLOW_JOB = "services.ingest.live_follow.follow_live"
SWEEP_JOB = "services.packager.sweep.sweep_streams"

# Transient failures (S3 down, a worker killed) are retried; bad media never raises.
# The first retry goes straight back on the queue: a delayed one waits for RQ's scheduler,
# and when the killed worker held the scheduler lock that lock lives on for 61 s. S3
# errors have had botocore's own backoff by then.
RETRY = Retry(max=3, interval=[0, 10, 30])


# How long a Redis restart or a dropped connection may last before a command gives up.
# Services ride it out (a command waits and then succeeds); the API must answer at once
# (503) instead, so a client's request never hangs on an outage.
OUTAGE_SECONDS = 60.0
FAIL_FAST_SECONDS = 0.5
RETRIED_ERRORS = [RedisConnectionError, RedisTimeoutError]


def _backoff(outage_seconds: float) -> tuple[ExponentialBackoff, int]:
    """Exponential backoff from 50 ms, capped at 4 s a wait, with as many retries as it
    takes for the waits to add up to `outage_seconds`."""
    backoff = ExponentialBackoff(cap=min(4.0, outage_seconds), base=0.05)
    retries, waited = 0, 0.0
    while waited < outage_seconds:
        retries += 1
        waited += backoff.compute(retries)
    return backoff, retries


@lru_cache
def redis_client(url: str, outage_seconds: float = OUTAGE_SECONDS) -> Redis:
    """One connection pool per URL, outage budget and process; idle connections are
    checked before use, and commands that meet a dropped connection or a restarting
    server retry with backoff for `outage_seconds`."""
    backoff, retries = _backoff(outage_seconds)
    return Redis.from_url(
        url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30,
        retry=RedisRetry(backoff, retries), retry_on_error=RETRIED_ERRORS,
    )


def async_redis_client(url: str, outage_seconds: float = FAIL_FAST_SECONDS) -> AsyncRedis:
    """The asyncio client the API reads with, retrying like `redis_client`."""
    backoff, retries = _backoff(outage_seconds)
    return AsyncRedis.from_url(
        url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=30,
        retry=AsyncRedisRetry(backoff, retries), retry_on_error=RETRIED_ERRORS,
    )


# A job in one of these is not enqueued again.
ACTIVE = ("queued", "started", "scheduled", "deferred")
# Held while a caller checks for a job and enqueues it; both take milliseconds.
ENQUEUE_LOCK_SECONDS = 10


def _enqueue(
    redis: Redis, queue: str, func: str, job_id: str, timeout: int, *args: object,
    on_failure: str | None = None, at: datetime | None = None,
) -> Job:
    """Enqueue `job_id` unless it is queued, scheduled or running; a finished or failed one
    is run again. The check and the enqueue hold a lock on the id: two callers at once
    (a client's repeated registration, two parts' packaging triggers) otherwise could both
    find no job and queue it twice."""
    with redis.lock(keys.redis_enqueue_lock(job_id), timeout=ENQUEUE_LOCK_SECONDS,
                    blocking_timeout=ENQUEUE_LOCK_SECONDS):
        try:
            existing = Job.fetch(job_id, connection=redis)
        except NoSuchJobError:
            existing = None
        if existing is not None and existing.get_status(refresh=False) in ACTIVE:
            return existing
        options = {"job_id": job_id, "job_timeout": timeout, "retry": RETRY, "result_ttl": 3600,
                   "failure_ttl": 86400, "on_failure": Callback(on_failure) if on_failure else None}
        if at is not None:
            return Queue(queue, connection=redis).enqueue_at(at, func, *args, **options)
        return Queue(queue, connection=redis).enqueue(func, *args, **options)


def enqueue_upscale(redis: Redis, settings: Settings, stream_id: str, seq: int) -> Job:
    return _enqueue(
        redis, UPSCALE_QUEUE, UPSCALE_JOB, f"upscale-{stream_id}-{seq}",
        settings.job_timeout_seconds, stream_id, seq, on_failure=UPSCALE_FAILED_CALLBACK,
    )


def enqueue_unenhanced(redis: Redis, settings: Settings, stream_id: str, seq: int) -> Job:
    return _enqueue(
        redis, UPSCALE_QUEUE, UNENHANCED_JOB, f"unenhanced-{stream_id}-{seq}",
        settings.job_timeout_seconds, stream_id, seq, on_failure=UNENHANCED_FAILED_CALLBACK,
    )


def enqueue_warm(
    redis: Redis, settings: Settings, mode: str, scale: int, width: int, height: int, tier: str,
) -> Job:
    """Have a worker load and run the model at this frame size before a stream's first
    clip; one job per size, so many streams of one size warm it once."""
    return _enqueue(
        redis, UPSCALE_QUEUE, WARM_JOB, f"warm-{mode}-{tier}-{scale}-{width}x{height}",
        settings.job_timeout_seconds, str(mode), scale, width, height, str(tier),
    )


def enqueue_package(
    redis: Redis, settings: Settings, stream_id: str, seq: int | None, part: int | None = None,
) -> Job:
    """Bring the stream's playlist up to date after clip `seq` finished, or its part `part`
    was published (seq None: after stop).

    The packager appends everything publishable in order, so any trigger is enough and
    running it twice is harmless. Each trigger has its own job id: one that found a run
    of the same clip already started must still queue a run after it.
    """
    trigger = "stop" if seq is None else str(seq) if part is None else f"{seq}-{part}"
    return _enqueue(
        redis, PACKAGE_QUEUE, PACKAGE_JOB, f"package-{stream_id}-{trigger}",
        settings.job_timeout_seconds, stream_id, seq,
    )


# An ingest fetches a video up to `ingest_max_seconds` long and may re-encode it whole: in
# software, a 1080p or 60-fps source takes about its own length or more on a small CPU,
# hence twice the length; fetching up to `ingest_max_bytes`, cutting and uploading get a
# margin of their own. A shorter limit would kill long ingests the settings accept.
INGEST_REENCODE_FACTOR = 2
INGEST_MARGIN_SECONDS = 1800


def ingest_job_timeout(settings: Settings) -> int:
    """The ingest job's timeout, sized to the longest video ingest accepts."""
    sized = settings.ingest_max_seconds * INGEST_REENCODE_FACTOR + INGEST_MARGIN_SECONDS
    return max(settings.job_timeout_seconds, round(sized))


def enqueue_ingest(redis: Redis, settings: Settings, stream_id: str) -> Job:
    return _enqueue(
        redis, INGEST_QUEUE, INGEST_JOB, f"ingest-{stream_id}",
        ingest_job_timeout(settings), stream_id,
    )


# A follower run loads a playlist and a few segments (each fetch bounded by
# `ingest_timeout_seconds`); one that hangs is cut off well before the next is due for long.
FOLLOW_TIMEOUT_SECONDS = 300


def enqueue_follow(redis: Redis, settings: Settings, stream_id: str, tick: int, *, delay: float) -> Job:
    """Run `tick` of following the stream's live source in `delay` seconds (at once if
    <= 0), on the ingest queue; one job id per tick, so a run asked for twice runs once."""
    at = datetime.now(UTC) + timedelta(seconds=delay) if delay > 0 else None
    return _enqueue(
        redis, INGEST_QUEUE, FOLLOW_JOB, f"follow-{stream_id}-{tick}", FOLLOW_TIMEOUT_SECONDS, stream_id, at=at,
    )


def schedule_sweep(redis: Redis, settings: Settings) -> Job:
    """The stream sweep's next run, on the "package" queue at the next multiple of
    `retention_sweep_seconds`.

    Each run schedules the next, and every API start schedules one too (restarting the
    chain if Redis lost it); the job id names the slot, so however many ask, one runs.
    """
    interval = settings.retention_sweep_seconds
    slot = int(time.time() // interval) + 1
    job_id = f"sweep-{slot}"
    try:
        return Job.fetch(job_id, connection=redis)
    except NoSuchJobError:
        pass
    return Queue(PACKAGE_QUEUE, connection=redis).enqueue_at(
        datetime.fromtimestamp(slot * interval, UTC), SWEEP_JOB, job_id=job_id,
        job_timeout=settings.job_timeout_seconds, result_ttl=interval, failure_ttl=86400,
    )
