"""`sharpr worker`: load the model once, then take clips from the "upscale" queue.

On the CPU the forking `Worker` runs each job in a child that inherits the loaded model;
with CUDA the jobs run in-process (`SimpleWorker`), since fork after CUDA init is unsafe.
SIGTERM is RQ's warm shutdown: the current clip finishes first.
"""

import logging
import os
from contextlib import suppress
from typing import Any

import torch
from rq import Queue, SimpleWorker, Worker
from rq.job import Job

from services.core.jobqueue import UPSCALE_QUEUE, redis_client
from services.core.schemas import Enhancement, Mode
from services.core.settings import Settings
from services.worker.jobs import model_upscaler

log = logging.getLogger(__name__)


class WorkHorseKilled(Exception):
    """The child running a job died (out of memory, SIGKILL) before it could report."""


class UpscaleWorker(Worker):
    """A forking worker that also fails the clip when the work horse itself dies.

    RQ 2.12 runs on_failure callbacks for exceptions and abandoned jobs, but not for a
    killed horse; without this a clip whose last attempt was killed would stay `upscaling`.
    """

    def handle_work_horse_killed(self, job: Job, retpid: int, ret_val: int, rusage: Any) -> None:
        super().handle_work_horse_killed(job, retpid, ret_val, rusage)
        error = WorkHorseKilled(f"work horse {retpid} ended with status {ret_val}")
        # RQ logs a failing callback; the job still goes through its own failure handling.
        with suppress(Exception):
            job.execute_failure_callback(self.death_penalty_class, WorkHorseKilled, error, None)


def warm_up(settings: Settings) -> None:
    """Load the model for the default enhancements before the first job, and run it once."""
    for mode in Mode:
        enhancement = Enhancement(mode=mode, scale=settings.default_scale)
        try:
            upscaler = model_upscaler(enhancement, settings)
            upscaler.upscale(torch.zeros((1, 32, 32, 3), dtype=torch.uint8).numpy())
            log.info("event=model_ready mode=%s scale=%d upscaler=%s", mode, enhancement.scale, upscaler.name)
        except Exception:  # jobs fall back to the resize; the worker still serves
            log.exception("event=model_unavailable mode=%s scale=%d", mode, enhancement.scale)


def run_worker(settings: Settings, burst: bool = False) -> None:
    warm_up(settings)
    redis = redis_client(settings.redis_url)
    worker_class = SimpleWorker if torch.cuda.is_available() else UpscaleWorker
    queues = [Queue(UPSCALE_QUEUE, connection=redis)]
    worker = worker_class(queues, connection=redis, name=f"upscale-{os.uname().nodename}-{os.getpid()}")
    log.info("event=worker_start class=%s burst=%s", worker_class.__name__, burst)
    # The scheduler moves retries (Retry intervals) back onto the queue when they are due.
    worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level)
