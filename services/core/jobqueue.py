"""RQ wiring: queue names, job names (dotted paths) and the enqueue calls.

Jobs are enqueued by dotted path so the API never imports torch and the packager never
imports the worker. Job ids are deterministic, so enqueueing twice is harmless.
"""

from functools import lru_cache

from redis import Redis
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Callback, Job

from services.core.settings import Settings

UPSCALE_QUEUE = "upscale"
PACKAGE_QUEUE = "package"
INGEST_QUEUE = "ingest"

UPSCALE_JOB = "services.worker.jobs.upscale_clip"
# Runs after every failed attempt; it fails the clip once no retry is left.
UPSCALE_FAILED_CALLBACK = "services.worker.jobs.upscale_failed"
PACKAGE_JOB = "services.packager.jobs.package_clip"
INGEST_JOB = "services.packager.ingest.ingest_video"

# Transient failures (S3 down, a worker killed) are retried; bad media never raises.
# The first retry goes straight back on the queue: a delayed one waits for RQ's scheduler,
# and when the killed worker held the scheduler lock that lock lives on for 61 s. S3
# errors have had botocore's own backoff by then.
RETRY = Retry(max=3, interval=[0, 10, 30])


@lru_cache
def redis_client(url: str) -> Redis:
    """One connection pool per URL and process."""
    return Redis.from_url(url, socket_timeout=10, health_check_interval=30)


def _enqueue(
    redis: Redis, queue: str, func: str, job_id: str, timeout: int, *args: object,
    on_failure: str | None = None,
) -> Job:
    try:
        existing = Job.fetch(job_id, connection=redis)
    except NoSuchJobError:
        existing = None
    if existing is not None and existing.get_status(refresh=False) in ("queued", "started", "scheduled", "deferred"):
        return existing
    return Queue(queue, connection=redis).enqueue(
        func, *args, job_id=job_id, job_timeout=timeout, retry=RETRY, result_ttl=3600, failure_ttl=86400,
        on_failure=Callback(on_failure) if on_failure else None,
    )


def enqueue_upscale(redis: Redis, settings: Settings, stream_id: str, seq: int) -> Job:
    return _enqueue(
        redis, UPSCALE_QUEUE, UPSCALE_JOB, f"upscale-{stream_id}-{seq}",
        settings.job_timeout_seconds, stream_id, seq, on_failure=UPSCALE_FAILED_CALLBACK,
    )


def enqueue_package(redis: Redis, settings: Settings, stream_id: str, seq: int | None) -> Job:
    """Bring the stream's playlist up to date after clip `seq` finished (None: after stop).

    The packager appends every finished clip in order, so any trigger is enough and
    running it twice is harmless.
    """
    trigger = "stop" if seq is None else str(seq)
    return _enqueue(
        redis, PACKAGE_QUEUE, PACKAGE_JOB, f"package-{stream_id}-{trigger}",
        settings.job_timeout_seconds, stream_id, seq,
    )


def enqueue_ingest(redis: Redis, settings: Settings, stream_id: str) -> Job:
    return _enqueue(
        redis, INGEST_QUEUE, INGEST_JOB, f"ingest-{stream_id}",
        settings.job_timeout_seconds, stream_id,
    )
