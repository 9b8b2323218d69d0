"""The packager process: an RQ worker on the "package" and "ingest" queues.

A forking `Worker` is safe here: the packager imports no torch and no CUDA, and a fresh
child per job keeps a crashed remux from taking the process down. It never imports the
worker service; jobs arrive by dotted path.
"""

import importlib
import logging

from rq import Queue, Worker

from services.core.jobqueue import (
    INGEST_JOB,
    INGEST_QUEUE,
    PACKAGE_JOB,
    PACKAGE_QUEUE,
    SWEEP_JOB,
    redis_client,
)
from services.core.settings import Settings
from services.core.storage import load_s3_model
from services.core.workloop import SCHEDULER_CHECK_SECONDS, keep_working

log = logging.getLogger(__name__)


def run_packager(settings: Settings, burst: bool = False) -> None:
    """Work jobs until stopped (or, with `burst`, until the queues are empty)."""
    redis = redis_client(settings.redis_url)
    queues = [Queue(name, connection=redis) for name in (PACKAGE_QUEUE, INGEST_QUEUE)]
    log.info("packager starting queues=%s burst=%s", ",".join(q.name for q in queues), burst)
    # Imported once here, so each forked job inherits the modules: imported in the child
    # they cost 0.33 s of CPU per job, about 1 s per clip of a live stream (three jobs),
    # taken from the worker on a machine that runs both.
    for job in (PACKAGE_JOB, SWEEP_JOB, INGEST_JOB):
        importlib.import_module(job.rsplit(".", 1)[0])
    load_s3_model(settings)
    # A short worker TTL makes RQ block on the queues for 15 s at a time (TTL - 15), so the
    # scheduler, which moves delayed retries back onto their queue, is checked that often;
    # with RQ's defaults it waited up to ten minutes after a Redis restart.
    keep_working(
        lambda: Worker(queues, connection=redis, worker_ttl=SCHEDULER_CHECK_SECONDS + 15,
                       maintenance_interval=SCHEDULER_CHECK_SECONDS),
        burst=burst, logging_level=settings.log_level,
    )
