"""`sharpr worker`: load the model once, then take clips from the "upscale" queue.

Jobs run in this process (`SimpleWorker`), never in a forked child: fork after CUDA init
is unsafe, and on the CPU a child forked after the warm-up deadlocks in torch's OpenMP
pool (libgomp keeps the parent's thread team; seen here with torch 2.13). In-process the
model also stays loaded from one clip to the next. SIGTERM is RQ's warm shutdown: the
current clip finishes first. A worker killed outright leaves its job abandoned; RQ's
registry cleanup in another worker then retries it or runs `upscale_failed` - within
about 1.5 x `worker_ttl_seconds`, because `HeartbeatWorker` keeps its claim short.
"""

import logging
import os
import threading
import time
from typing import Any

import numpy as np
from rq import Queue, SimpleWorker
from rq.job import Job
from rq.worker import WorkerStatus

from services.core.jobqueue import UPSCALE_QUEUE, redis_client
from services.core.schemas import Enhancement, Mode
from services.core.settings import Settings
from services.core.workloop import SCHEDULER_CHECK_SECONDS, keep_working
from services.worker.jobs import model_upscaler
from services.worker.upscaler import Upscaler

log = logging.getLogger(__name__)


def ready_upscaler(enhancement: Enhancement, settings: Settings) -> Upscaler:
    """The model for `enhancement` loaded (weights converted and cached, a TensorRT engine
    built or read from its cache) and run once."""
    upscaler = model_upscaler(enhancement, settings)
    upscaler.upscale(np.zeros((1, 32, 32, 3), np.uint8))
    return upscaler


def warm_up(settings: Settings) -> None:
    """Load the model for each mode at the default scale and run it once, before any job."""
    for mode in Mode:
        enhancement = Enhancement(mode=mode, scale=settings.default_scale)
        try:
            upscaler = ready_upscaler(enhancement, settings)
            log.info("event=model_ready mode=%s scale=%d upscaler=%s", mode, enhancement.scale, upscaler.name)
        except Exception:  # jobs fall back to the resize; the worker still serves
            log.exception("event=model_unavailable mode=%s scale=%d", mode, enhancement.scale)


def prepare_models(settings: Settings, modes: list[Mode], scales: list[int]) -> None:
    """`sharpr prepare`: fill the weights and engine caches under `data_dir` ahead of time
    (an image build step or an init container), so no worker start waits for a TensorRT
    build. Unlike the warm-up, a model that cannot load is an error here."""
    for mode in modes:
        for scale in scales:
            started = time.monotonic()
            upscaler = ready_upscaler(Enhancement(mode=mode, scale=scale), settings)
            print(f"{upscaler.name}: ready in {time.monotonic() - started:.1f} s "
                  f"(cache: {settings.data_dir})", flush=True)


class HeartbeatWorker(SimpleWorker):
    """A SimpleWorker that renews its claim on the running job from a thread.

    RQ's SimpleWorker sends no heartbeat during a job, so it claims the job in the
    StartedJobRegistry for the whole job timeout + 60 s: a killed worker's clip would wait
    16 minutes, then up to RQ's 10-minute maintenance interval, before anyone retried it,
    and its live stream would stall that long. Here the claim lasts `ttl` seconds and is
    renewed every `ttl / 4`; every worker cleans the registries (and checks its scheduler)
    every `ttl / 2` or `SCHEDULER_CHECK_SECONDS`, whichever is shorter.
    """

    def __init__(self, queues: list[Queue], *, ttl: int, **kwargs: Any) -> None:
        # RQ blocks on the queue for worker_ttl - 15 s between maintenance checks.
        super().__init__(queues, worker_ttl=ttl, maintenance_interval=min(ttl // 2, SCHEDULER_CHECK_SECONDS),
                         **kwargs)
        self.claim_ttl = ttl

    def get_heartbeat_ttl(self, job: Job) -> int:
        return self.claim_ttl

    def execute_job(self, job: Job, queue: Queue) -> None:
        self.prepare_execution(job)
        done = threading.Event()
        beating = threading.Thread(target=self._beat, args=(job, done), name="rq-heartbeat", daemon=True)
        beating.start()
        try:
            self.perform_job(job, queue)
        finally:
            done.set()
            beating.join()
        self.set_state(WorkerStatus.IDLE)

    def _beat(self, job: Job, done: threading.Event) -> None:
        while not done.wait(self.claim_ttl / 4):
            try:
                self.maintain_heartbeats(job)
            except Exception:  # Redis away for a moment: the next beat tries again
                log.warning("event=heartbeat_failed job=%s", job.id, exc_info=True)


def run_worker(settings: Settings, burst: bool = False) -> None:
    warm_up(settings)
    redis = redis_client(settings.redis_url)
    log.info("event=worker_start burst=%s", burst)
    # The scheduler puts retries (Retry intervals) back on the queue when they are due.
    keep_working(
        lambda: HeartbeatWorker(
            [Queue(UPSCALE_QUEUE, connection=redis)], connection=redis, ttl=settings.worker_ttl_seconds,
            name=f"upscale-{os.uname().nodename}-{os.getpid()}",
        ),
        burst=burst, logging_level=settings.log_level,
    )
