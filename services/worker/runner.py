"""`sharpr worker`: load the model once, then take clips from the "upscale" queue.

Jobs run in this process (`SimpleWorker`), never in a forked child: fork after CUDA init
is unsafe, and on the CPU a child forked after the warm-up deadlocks in torch's OpenMP
pool (libgomp keeps the parent's thread team; seen here with torch 2.13). In-process the
model also stays loaded from one clip to the next. SIGTERM is RQ's warm shutdown: the
current clip finishes first. A worker killed outright leaves its job abandoned; RQ's
registry cleanup then retries it or runs `upscale_failed`.
"""

import logging
import os

import numpy as np
from rq import Queue, SimpleWorker

from services.core.jobqueue import UPSCALE_QUEUE, redis_client
from services.core.schemas import Enhancement, Mode
from services.core.settings import Settings
from services.worker.jobs import model_upscaler

log = logging.getLogger(__name__)


def warm_up(settings: Settings) -> None:
    """Load the model for each mode at the default scale and run it once, before any job."""
    for mode in Mode:
        enhancement = Enhancement(mode=mode, scale=settings.default_scale)
        try:
            upscaler = model_upscaler(enhancement, settings)
            upscaler.upscale(np.zeros((1, 32, 32, 3), np.uint8))
            log.info("event=model_ready mode=%s scale=%d upscaler=%s", mode, enhancement.scale, upscaler.name)
        except Exception:  # jobs fall back to the resize; the worker still serves
            log.exception("event=model_unavailable mode=%s scale=%d", mode, enhancement.scale)


def run_worker(settings: Settings, burst: bool = False) -> None:
    warm_up(settings)
    redis = redis_client(settings.redis_url)
    worker = SimpleWorker(
        [Queue(UPSCALE_QUEUE, connection=redis)], connection=redis,
        name=f"upscale-{os.uname().nodename}-{os.getpid()}",
    )
    log.info("event=worker_start burst=%s", burst)
    # The scheduler puts retries (Retry intervals) back on the queue when they are due.
    worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level)
