"""The packager process: an RQ worker on the "package" and "ingest" queues.

A forking `Worker` is safe here: the packager imports no torch and no CUDA, and a fresh
child per job keeps a crashed remux from taking the process down. It never imports the
worker service; jobs arrive by dotted path.
"""

import logging

from rq import Queue, Worker

from services.core.jobqueue import INGEST_QUEUE, PACKAGE_QUEUE, redis_client
from services.core.settings import Settings

log = logging.getLogger(__name__)


def run_packager(settings: Settings, burst: bool = False) -> None:
    """Work jobs until stopped (or, with `burst`, until the queues are empty)."""
    redis = redis_client(settings.redis_url)
    queues = [Queue(name, connection=redis) for name in (PACKAGE_QUEUE, INGEST_QUEUE)]
    log.info("packager starting queues=%s burst=%s", ",".join(q.name for q in queues), burst)
    # The scheduler moves retried jobs (jobqueue.RETRY intervals) back onto their queue.
    Worker(queues, connection=redis).work(burst=burst, with_scheduler=True, logging_level=settings.log_level)
