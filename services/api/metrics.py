"""Prometheus metrics: request counts and latency here, queue depths read at scrape time."""

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from redis import Redis
from rq import Queue

from services.core.jobqueue import INGEST_QUEUE, PACKAGE_QUEUE, UPSCALE_QUEUE

REQUESTS = Counter("sharpr_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "sharpr_http_request_seconds", "HTTP request latency", ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
QUEUE_DEPTH = Gauge("sharpr_queue_jobs", "Jobs waiting per RQ queue", ["queue"])
DEPENDENCY_UP = Gauge("sharpr_dependency_up", "1 if the last /readyz reached it, else 0", ["dependency"])


def render(redis: Redis) -> tuple[bytes, str]:
    for name in (UPSCALE_QUEUE, PACKAGE_QUEUE, INGEST_QUEUE):
        QUEUE_DEPTH.labels(name).set(Queue(name, connection=redis).count)
    return generate_latest(), CONTENT_TYPE_LATEST
