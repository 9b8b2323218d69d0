"""`sharpr worker`: load the model once, then take clips from the "upscale" queue.

Jobs run in this process (`SimpleWorker`), never in a forked child: fork after CUDA init
is unsafe, and on the CPU a child forked after the warm-up deadlocks in torch's OpenMP
pool (libgomp keeps the parent's thread team; seen here with torch 2.13). In-process the
model also stays loaded from one clip to the next. SIGTERM is RQ's warm shutdown: the
current clip finishes first. A worker killed outright leaves its job abandoned; RQ's
registry cleanup in another worker then retries it or runs `upscale_failed` - within
about 1.5 x `worker_ttl_seconds`, because `HeartbeatWorker` keeps its claim short.
Each heartbeat also keeps the worker in the fleet's capacity; its warm-up measures it.
"""

import logging
import os
import threading
import time
from typing import Any

import numpy as np
from redis import Redis
from redis.client import Pipeline
from rq import Queue, SimpleWorker
from rq.job import Job
from rq.worker import WorkerStatus

from services.core import capacity
from services.core.framesize import LADDER, even
from services.core.jobqueue import UPSCALE_QUEUE, redis_client
from services.core.schemas import Enhancement, Mode, Tier
from services.core.settings import Settings
from services.core.tiers import tiers_at
from services.core.workloop import SCHEDULER_CHECK_SECONDS, keep_working
from services.worker.jobs import warm_size
from services.worker.models.selection import choose_backend
from services.worker.upscaler import Upscaler, load_upscaler

log = logging.getLogger(__name__)


SCALES = (2, 3, 4)
# The warm-up's frame: the size a client starts at before any capacity is known (16:9).
WARM_HEIGHT = LADDER[1]
WARM_WIDTH = even(WARM_HEIGHT * 16 / 9)


def served_models(settings: Settings) -> list[tuple[Mode, int, Tier]]:
    """The (mode, scale, tier) a worker loads before it takes work. On TensorRT, every one
    a stream may ask for (auto mode uses both networks): an engine built inside a job would
    run under the job's timeout. On PyTorch a load takes seconds, so every tier of the warm
    modes at the default scale, and the rest load with their first stream. Fastest tier
    first: a client that asks for the capacity while the warm-up runs finds the tiers that
    keep up measured (realesrgan-x4plus alone takes a minute here)."""
    if choose_backend(settings.backend) == "tensorrt":
        pairs = [(mode, scale) for mode in (Mode.anime, Mode.live_action) for scale in SCALES]
    else:
        pairs = [(Mode(mode), settings.default_scale) for mode in settings.warm_modes]
    return [(mode, scale, tier) for mode, scale in pairs for tier in reversed(tiers_at(scale))]


def warm_up(settings: Settings, redis: Redis, models: list[tuple[Mode, int, Tier]]) -> None:
    """Load each of `models`, run it at the starting capture size (once to warm, once to
    measure) and record that throughput, so clients see a capacity per tier before any clip.
    Then `MEASURE_ROUNDS - 1` more rounds time each model in turn and record its best: the
    warm-up runs while the rest of the stack starts beside it, and a burst of load that hit
    one model's only runs once measured the fast tier slower than the balanced one.

    When a backend was asked for by name, a model that cannot load stops the worker
    before it registers, so its health check fails and the log says why; under auto it is
    logged and jobs fall back to the resize.
    """
    best: dict[tuple[Mode, int, Tier], tuple[Upscaler, float]] = {}
    for mode, scale, tier in models:
        enhancement = Enhancement(mode=mode, scale=scale, tier=tier)
        try:
            upscaler = load_upscaler(enhancement, settings)
            warm_size(enhancement, WARM_WIDTH, WARM_HEIGHT, settings)  # loads and runs it once
            seconds = timed_seconds(upscaler)
        except Exception:
            if settings.backend != "auto":
                log.error("event=worker_not_ready backend=%s mode=%s tier=%s scale=%d",
                          settings.backend, mode, tier, scale)
                raise
            log.exception("event=model_unavailable mode=%s tier=%s scale=%d", mode, tier, scale)
            continue
        best[mode, scale, tier] = upscaler, seconds
        record_warm_up(redis, mode, scale, tier, seconds)
        log.info("event=model_ready mode=%s tier=%s scale=%d upscaler=%s input_pixels_per_second=%.0f",
                 mode, tier, scale, upscaler.name, WARM_WIDTH * WARM_HEIGHT / seconds)
    for _ in range(MEASURE_ROUNDS - 1):
        for (mode, scale, tier), (upscaler, seconds) in best.items():
            seconds = min(seconds, timed_seconds(upscaler))
            best[mode, scale, tier] = upscaler, seconds
            record_warm_up(redis, mode, scale, tier, seconds)


# Timed runs of the warm-up frame per model, taken in rounds over all of them, the best kept:
# a client fixes its stream's output size from this figure.
MEASURE_ROUNDS = 3


def timed_seconds(upscaler: Upscaler) -> float:
    """One timed run at the starting capture size."""
    frame = np.zeros((1, WARM_HEIGHT, WARM_WIDTH, 3), np.uint8)
    started = time.perf_counter()
    upscaler.upscale(frame)
    return time.perf_counter() - started


def record_warm_up(redis: Redis, mode: Mode, scale: int, tier: Tier, seconds: float) -> None:
    capacity.record_throughput(
        redis, capacity.this_worker(), mode, tier, scale, WARM_WIDTH * WARM_HEIGHT, seconds,
        from_clip=False,
    )


def prepare_models(settings: Settings, modes: list[Mode], scales: list[int]) -> None:
    """`sharpr prepare`: fill the weights and engine caches under `data_dir` ahead of time
    (an image build step or an init container), so no worker start waits for a TensorRT
    build. Every tier at each scale. Unlike the warm-up, a model that cannot load is an
    error here."""
    for mode, scale in ((mode, scale) for mode in modes for scale in scales):
        for tier in tiers_at(scale):
            started = time.monotonic()
            upscaler = load_upscaler(Enhancement(mode=mode, scale=scale, tier=tier), settings)
            # Run once: a model that loads but cannot run is an error here too.
            upscaler.upscale(np.zeros((1, 32, 32, 3), np.uint8))
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

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        """RQ's heartbeat, which also keeps this worker's throughput in the fleet's capacity."""
        super().heartbeat(timeout, pipeline)
        capacity.mark_seen(pipeline if pipeline is not None else self.connection, self.name)

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
    if settings.worker_nice:
        os.nice(settings.worker_nice)  # before torch starts its threads, which inherit it
    redis = redis_client(settings.redis_url)
    warm_up(settings, redis, served_models(settings))
    log.info("event=worker_start burst=%s nice=%d", burst, os.nice(0))
    # The scheduler puts retries (Retry intervals) back on the queue when they are due.
    keep_working(
        lambda: HeartbeatWorker(
            [Queue(UPSCALE_QUEUE, connection=redis)], connection=redis, ttl=settings.worker_ttl_seconds,
            name=capacity.this_worker(),
        ),
        burst=burst, logging_level=settings.log_level,
    )
