"""Keep an RQ worker's loop running through a Redis outage, for every service that works a queue.

Commands already retry for `jobqueue.OUTAGE_SECONDS`; past that RQ's loop quits ("found an
unhandled exception, quitting"), and a process that nobody restarts would leave its
queue unserved for good. Here the loop starts again, with a fresh worker registration,
after a growing wait, until a shutdown is asked for. The scheduler (delayed retries) is
restarted with it, and checked every `SCHEDULER_CHECK_SECONDS` while the loop runs, so a
retry meant for 10 s never waits RQ's default ten-minute maintenance interval.
"""

import contextlib
import importlib
import logging
import time
from collections.abc import Callable

from redis.exceptions import RedisError
from rq import Queue, Worker
from rq.exceptions import StopRequested
from rq.worker import BaseWorker

from services.core.jobqueue import redis_client
from services.core.settings import Settings
from services.core.storage import load_s3_model

log = logging.getLogger(__name__)

SCHEDULER_CHECK_SECONDS = 15
FIRST_WAIT_SECONDS = 1.0
LONGEST_WAIT_SECONDS = 30.0


def keep_working(new_worker: Callable[[], BaseWorker], *, burst: bool, logging_level: str) -> None:
    """Run `new_worker()`'s loop (scheduler included) until it stops on request or, with
    `burst`, once the queues are empty."""
    wait = FIRST_WAIT_SECONDS
    while True:
        worker = new_worker()
        started = time.monotonic()
        try:
            worker.work(burst=burst, with_scheduler=True, logging_level=logging_level)
        except RedisError as error:  # raised by the loop's own teardown while Redis is away
            log.warning("event=work_loop_lost worker=%s error=%r", worker.name, str(error))
        # RQ notes a warm shutdown (SIGTERM, Ctrl-C) here whether or not a job was running.
        if burst or worker._shutdown_requested_date is not None:
            return
        log.warning("event=work_loop_restarting worker=%s wait_s=%.0f", worker.name, wait)
        try:
            time.sleep(wait)
        except StopRequested:  # SIGTERM while waiting: RQ's handler is still installed
            return
        with contextlib.suppress(RedisError):  # else the new registration is refused as a duplicate
            worker.register_death()
        # A loop that had run well for a while starts over from the shortest wait.
        ran_long = time.monotonic() - started > 2 * LONGEST_WAIT_SECONDS
        wait = FIRST_WAIT_SECONDS if ran_long else min(wait * 2, LONGEST_WAIT_SECONDS)


def work_queue_forking(settings: Settings, name: str, jobs: tuple[str, ...], *, burst: bool) -> None:
    """Work queue `name` with RQ's forking `Worker`: a fresh child per job, so a job that
    crashes (a remux, a decoder) cannot take the service down. Only for services that
    import no torch or CUDA, which must not fork. `jobs` are the dotted paths it runs."""
    redis = redis_client(settings.redis_url)
    queue = Queue(name, connection=redis)
    log.info("event=work_loop_start queue=%s burst=%s", name, burst)
    # Imported once here, so each forked job inherits the modules: imported in the child
    # they cost a third of a CPU second per job, about a second per clip of a live stream
    # (three package jobs), taken from the worker on a machine that runs both.
    for job in jobs:
        importlib.import_module(job.rsplit(".", 1)[0])
    load_s3_model(settings)  # likewise botocore's S3 model, ~0.1 s a job
    # A short worker TTL makes RQ block on the queue for 15 s at a time (TTL - 15), so the
    # scheduler, which moves delayed retries back onto their queue, is checked that often;
    # with RQ's defaults it waited up to ten minutes after a Redis restart.
    keep_working(
        lambda: Worker([queue], connection=redis, worker_ttl=SCHEDULER_CHECK_SECONDS + 15,
                       maintenance_interval=SCHEDULER_CHECK_SECONDS),
        burst=burst, logging_level=settings.log_level,
    )
