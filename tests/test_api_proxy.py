"""Who a per-address limit counts, through a real `sharpr api` (uvicorn) process: behind a
trusted proxy each forwarded client on its own, behind an untrusted one the proxy itself,
and an IPv6 client by its /64."""

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from services.api.ratelimit import client_address
from services.core import localservers
from services.core.settings import Settings

STREAMS_PER_ADDRESS = 2


@contextmanager
def api_process(trusted: str, tmp_path) -> Iterator[httpx.Client]:
    port = localservers.free_port()
    env = localservers.child_env({
        **os.environ, "SHARPR_API_PORT": str(port), "SHARPR_API_FORWARDED_ALLOW_IPS": trusted,
        "SHARPR_STREAMS_PER_ADDRESS": str(STREAMS_PER_ADDRESS),
    })
    with (tmp_path / f"api-{port}.log").open("wb") as log:
        process = subprocess.Popen(localservers.python_command("api"), env=env, stdout=log, stderr=subprocess.STDOUT)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
    try:
        deadline = time.monotonic() + 60
        while not _ready(client):
            assert time.monotonic() < deadline and process.poll() is None, (tmp_path / f"api-{port}.log").read_text()
            time.sleep(0.2)
        yield client
    finally:
        client.close()
        localservers.stop_process(process, grace=8)


def _ready(client: httpx.Client) -> bool:
    try:
        return client.get("/readyz").status_code == 200
    except httpx.HTTPError:
        return False


def opened(api: httpx.Client, forwarded_for: str) -> list[int]:
    """Statuses of STREAMS_PER_ADDRESS + 1 stream creations as that client."""
    return [api.post("/v1/streams", json={}, headers={"X-Forwarded-For": forwarded_for}).status_code
            for _ in range(STREAMS_PER_ADDRESS + 1)]


def test_behind_a_trusted_proxy_each_client_has_its_own_limit_and_an_ipv6_one_per_64(settings: Settings, tmp_path):
    with api_process("127.0.0.1", tmp_path) as api:
        first, second = opened(api, "203.0.113.5"), opened(api, "198.51.100.7")
        ipv6 = [api.post("/v1/streams", json={}, headers={"X-Forwarded-For": address}).status_code
                for address in ("2001:db8:1:2::1", "2001:db8:1:2::ffff", "2001:db8:1:2:aaaa::9", "2001:db8:1:3::1")]
    assert first == second == [201, 201, 429]
    assert ipv6 == [201, 201, 429, 201]  # three addresses of one /64 share its limit; the next /64 has its own


def test_behind_an_untrusted_proxy_its_header_is_ignored(settings: Settings, tmp_path):
    with api_process("192.0.2.1", tmp_path) as api:
        first, second = opened(api, "203.0.113.5"), opened(api, "198.51.100.7")
    assert first == [201, 201, 429] and second == [429] * 3  # both counted as 127.0.0.1


@pytest.mark.parametrize(("peer", "counted"), [
    ("203.0.113.5", "203.0.113.5"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("::ffff:198.51.100.7", "198.51.100.7"),
    ("testclient", "testclient"),
])
def test_the_address_a_limit_counts(peer: str, counted: str):
    assert client_address({"type": "http", "client": (peer, 5000)}) == counted
