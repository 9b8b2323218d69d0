"""Keep an RQ worker's loop running through a Redis outage, for the worker and the packager.

Commands already retry for `jobqueue.OUTAGE_SECONDS`; past that RQ's loop quits ("found an
unhandled exception, quitting"), and a process that nobody restarts would leave its
queue unserved for good. Here the loop starts again, with a fresh worker registration,
after a growing wait, until a shutdown is asked for. The scheduler (delayed retries) is
restarted with it, and checked every `SCHEDULER_CHECK_SECONDS` while the loop runs, so a
retry meant for 10 s never waits RQ's default ten-minute maintenance interval.
"""

import contextlib
import logging
import time
from collections.abc import Callable

from redis.exceptions import RedisError
from rq.exceptions import StopRequested
from rq.worker import BaseWorker

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
