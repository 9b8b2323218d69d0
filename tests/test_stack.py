"""`sharpr up` as a user runs it: it keeps the stack up when a service dies, stops on
Ctrl-C, and refuses to start on a port another stack already holds."""

import os
import signal
import socket
import subprocess
from pathlib import Path

import httpx
import psutil
import pytest

from services.core import localservers
from services.core.settings import Settings, get_settings
from services.stack import service_env
from tests.api_client import auth, send_clip
from tests.cluster import Cluster, wait_for, wait_until_ended
from tests.media import write_clip
from tests.stream_checks import assert_complete_playlist

FPS = 15


def service_pid(stack: subprocess.Popen[bytes], name: str) -> int | None:
    """The pid of the stack's child running `sharpr <name>`."""
    for child in psutil.Process(stack.pid).children(recursive=True):
        try:
            argv = child.cmdline()
        except psutil.Error:
            continue  # exited while we looked
        if argv[-2:] == ["services.cli", name]:
            return child.pid
    return None


@pytest.mark.faults
def test_a_worker_killed_under_sharpr_up_is_restarted_and_its_clip_reruns(cluster: Cluster, tmp_path: Path):
    settings = get_settings()
    streams = cluster.streams(settings)
    long, short = tmp_path / "long.webm", tmp_path / "short.webm"
    write_clip(long, seconds=6.0, width=96, height=54, fps=FPS)
    write_clip(short, seconds=2.0, width=64, height=36, fps=FPS)
    port = localservers.free_port()
    stack = cluster.run("stack", "up", SHARPR_API_PORT=str(port),
                        SHARPR_PUBLIC_BASE_URL=f"http://127.0.0.1:{port}")
    try:
        api = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
        wait_for(lambda: "SharprAI is up." in cluster.log("stack"), 120, "the stack up")
        stream = api.post("/v1/streams", json={"mode": "anime", "scale": 2}).json()
        assert send_clip(api, stream, 0, long).status_code == 202
        wait_for(lambda: streams.get_clip(stream["id"], 0).frames_done > 0, 90, "clip 0 started", interval=0.05)
        first_worker = service_pid(stack, "worker")
        assert first_worker is not None
        assert all(service_pid(stack, name) for name in ("api", "packager", "ingest"))
        os.killpg(first_worker, signal.SIGKILL)

        wait_for(lambda: "event=service_restarted service=worker" in cluster.log("stack"), 60, "worker restarted")
        assert send_clip(api, stream, 1, short).status_code == 202
        assert api.post(f"/v1/streams/{stream['id']}/stop", headers=auth(stream["token"])).status_code == 202
        wait_until_ended(streams, stream["id"], timeout=180)
        assert_complete_playlist(settings, stream["id"], {0: 6.0, 1: 2.0}, FPS)
        assert stack.poll() is None, "the stack stopped with its worker"
        assert service_pid(stack, "worker") not in (None, first_worker)
    finally:
        stack.send_signal(signal.SIGINT)  # Ctrl-C: the stack stops its children itself
        assert stack.wait(30) == 0
        cluster.services.pop("stack")


def test_sharpr_up_refuses_a_port_another_stack_holds(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            localservers.python_command("up"), check=False, capture_output=True, text=True, timeout=60,
            env=localservers.child_env({"SHARPR_API_PORT": str(port), "SHARPR_DATA_DIR": str(tmp_path)}),
        )
    assert done.returncode != 0
    assert f"port {port} on 127.0.0.1 is taken" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "redis").exists(), "it started servers before refusing"


def test_sharpr_up_runs_its_worker_at_a_lower_cpu_priority_than_the_other_services():
    default = Settings()
    assert service_env("worker", {}, default)["SHARPR_WORKER_NICE"] == "10"
    assert service_env("worker", {}, Settings(worker_nice=3))["SHARPR_WORKER_NICE"] == "3"
    assert service_env("worker", {}, Settings(worker_nice=0))["SHARPR_WORKER_NICE"] == "0"
    assert "SHARPR_WORKER_NICE" not in service_env("api", {}, default)
    assert "SHARPR_WORKER_NICE" not in service_env("packager", {}, default)
