"""Prometheus metrics: request counts and latency here; queue depths and the workers'
frame counts read from Redis at scrape time."""

from collections.abc import Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
from redis import Redis
from rq import Queue

from services.core.frame_counts import read_frame_counts
from services.core.jobqueue import INGEST_QUEUE, PACKAGE_QUEUE, UPSCALE_QUEUE

REQUESTS = Counter("sharpr_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "sharpr_http_request_seconds", "HTTP request latency", ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
QUEUE_DEPTH = Gauge("sharpr_queue_jobs", "Jobs waiting per RQ queue", ["queue"])
DEPENDENCY_UP = Gauge("sharpr_dependency_up", "1 if the last /readyz reached it, else 0", ["dependency"])


class WorkerFrames(Collector):
    """`sharpr_worker_frames_total{outcome="model"|"skipped"}`: the fleet's totals, kept by
    the workers in Redis; a counter, so `rate()` gives the share of repeats skipped."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "sharpr_worker_frames", "Frames enhanced by the workers, by whether the model ran",
            labels=["outcome"],
        )
        for outcome, count in self.counts.items():
            family.add_metric([outcome], count)
        yield family


WORKER_FRAMES = WorkerFrames()
REGISTRY.register(WORKER_FRAMES)


def render(redis: Redis) -> tuple[bytes, str]:
    for name in (UPSCALE_QUEUE, PACKAGE_QUEUE, INGEST_QUEUE):
        QUEUE_DEPTH.labels(name).set(Queue(name, connection=redis).count)
    WORKER_FRAMES.counts = read_frame_counts(redis)
    return generate_latest(), CONTENT_TYPE_LATEST
