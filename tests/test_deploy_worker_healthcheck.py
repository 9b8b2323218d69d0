"""deploy/worker_healthcheck.py, run as the containers run it (a subprocess), against the real
Redis: healthy only while an RQ worker on this host is registered for the queues asked about.

Queue names are unique per test, so workers that other tests run in the same Redis db (their
RQ workers share this hostname) neither make a check pass nor get disturbed.
"""

import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue, Worker

from services.core import localservers

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "deploy" / "worker_healthcheck.py"


def healthcheck(redis_url: str, *queues: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *queues],
        check=False, capture_output=True, text=True, timeout=30, cwd=ROOT,
        env={"SHARPR_REDIS_URL": redis_url, "PYTHONPATH": str(ROOT)},
    )


@pytest.fixture
def queue_names() -> list[str]:
    """Three fresh queue names, standing in for upscale, package and ingest."""
    tag = uuid.uuid4().hex[:8]
    return [f"upscale-{tag}", f"package-{tag}", f"ingest-{tag}"]


@pytest.fixture
def workers(redis_url: str) -> Iterator[list[Worker]]:
    """Workers a test registers; their registrations are removed afterwards."""
    registered: list[Worker] = []
    yield registered
    for worker in registered:
        worker.register_death()


def register_worker(redis_url: str, workers: list[Worker], *queues: str) -> Worker:
    redis = Redis.from_url(redis_url)
    worker = Worker([Queue(name, connection=redis) for name in queues], connection=redis)
    worker.register_birth()
    workers.append(worker)
    assert worker.hostname == socket.gethostname()
    return worker


def test_healthy_while_a_worker_on_this_host_serves_the_queue(
    redis_url: str, queue_names: list[str], workers: list[Worker]
) -> None:
    upscale = queue_names[0]
    worker = register_worker(redis_url, workers, upscale)
    assert healthcheck(redis_url, upscale).returncode == 0

    worker.register_death()
    result = healthcheck(redis_url, upscale)
    assert result.returncode == 1
    assert "no worker" in result.stderr


def test_a_worker_on_other_queues_does_not_count(
    redis_url: str, queue_names: list[str], workers: list[Worker]
) -> None:
    upscale, package, ingest = queue_names
    register_worker(redis_url, workers, package)
    assert healthcheck(redis_url, upscale).returncode == 1
    assert healthcheck(redis_url, package, ingest).returncode == 1

    register_worker(redis_url, workers, package, ingest)
    assert healthcheck(redis_url, package, ingest).returncode == 0


def test_unreachable_redis_is_unhealthy_not_a_crash() -> None:
    result = healthcheck(f"redis://127.0.0.1:{localservers.free_port()}/0", "upscale")
    assert result.returncode == 1
    assert "redis error" in result.stderr and "Traceback" not in result.stderr
