"""Container health check for RQ workers: is a worker on this host registered for these queues?

Docker's HEALTHCHECK and a Kubernetes exec probe run it inside the worker container, where
the hostname is the container's (or pod's) own, so a match means *this* container's worker
has started its loop (after loading the model) and its registration has not expired, which
happens when heartbeats stop. Exit status 0 healthy, 1 not.

Usage: python worker_healthcheck.py QUEUE [QUEUE ...]
"""

import socket
import sys

from redis.exceptions import RedisError
from rq import Worker

from services.core.jobqueue import FAIL_FAST_SECONDS, redis_client
from services.core.settings import get_settings


def worker_registered(queues: set[str], hostname: str) -> bool:
    """True if a live RQ worker on `hostname` listens on every queue in `queues`."""
    # A probe answers within its timeout: it must not ride out an outage as the worker does.
    redis = redis_client(get_settings().redis_url, FAIL_FAST_SECONDS)
    return any(
        worker.hostname == hostname and queues <= set(worker.queue_names())
        for worker in Worker.all(connection=redis)
    )


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: worker_healthcheck.py QUEUE [QUEUE ...]", file=sys.stderr)
        return 2
    try:
        healthy = worker_registered(set(argv), socket.gethostname())
    except RedisError as error:
        print(f"unhealthy: redis error={error!r}", file=sys.stderr)
        return 1
    if not healthy:
        print(f"unhealthy: no worker host={socket.gethostname()} queues={sorted(argv)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
