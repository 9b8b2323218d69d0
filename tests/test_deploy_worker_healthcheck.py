"""deploy/worker_healthcheck.py, run as the containers run it (a subprocess), against the real
Redis: healthy only while an RQ worker on this host is registered for the queues asked about.
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
from services.core.jobqueue import INGEST_QUEUE, PACKAGE_QUEUE, UPSCALE_QUEUE

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "deploy" / "worker_healthcheck.py"
# Not the fixtures' db: other tests run RQ workers there, which would count as healthy.
HEALTHCHECK_DB = 11


def healthcheck(redis_url: str, *queues: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *queues],
        capture_output=True, text=True, timeout=30, cwd=ROOT,
        env={"SHARPR_REDIS_URL": redis_url, "PYTHONPATH": str(ROOT)},
    )


@pytest.fixture
def own_db_url(redis_url: str) -> str:
    """The session Redis (no S3 server needed), in a db of this module's own."""
    return f"{redis_url.rsplit('/', 1)[0]}/{HEALTHCHECK_DB}"


@pytest.fixture
def clean_redis(own_db_url: str) -> Iterator[Redis]:
    redis = Redis.from_url(own_db_url)
    redis.flushdb()
    yield redis
    redis.flushdb()


def register_worker(redis: Redis, *queues: str) -> Worker:
    worker = Worker(
        [Queue(name, connection=redis) for name in queues],
        connection=redis, name=f"test-{uuid.uuid4().hex[:8]}",
    )
    worker.register_birth()
    assert worker.hostname == socket.gethostname()
    return worker


def test_healthy_while_a_worker_on_this_host_serves_the_queue(clean_redis: Redis, own_db_url: str) -> None:
    worker = register_worker(clean_redis, UPSCALE_QUEUE)
    assert healthcheck(own_db_url, UPSCALE_QUEUE).returncode == 0

    worker.register_death()
    result = healthcheck(own_db_url, UPSCALE_QUEUE)
    assert result.returncode == 1
    assert "no worker" in result.stderr


def test_a_worker_on_other_queues_does_not_count(clean_redis: Redis, own_db_url: str) -> None:
    register_worker(clean_redis, PACKAGE_QUEUE)
    assert healthcheck(own_db_url, UPSCALE_QUEUE).returncode == 1
    assert healthcheck(own_db_url, PACKAGE_QUEUE, INGEST_QUEUE).returncode == 1

    register_worker(clean_redis, PACKAGE_QUEUE, INGEST_QUEUE)
    assert healthcheck(own_db_url, PACKAGE_QUEUE, INGEST_QUEUE).returncode == 0


def test_unreachable_redis_is_unhealthy_not_a_crash() -> None:
    result = healthcheck(f"redis://127.0.0.1:{localservers.free_port()}/0", UPSCALE_QUEUE)
    assert result.returncode == 1
    assert "redis error" in result.stderr and "Traceback" not in result.stderr
