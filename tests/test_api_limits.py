"""Who may touch a stream, and every limit's refusal: status, code and, for rates, Retry-After.

Real Redis and S3 through the conftest fixtures; limits are lowered per test through
`SHARPR_*` variables, as an operator would set them.
"""

import asyncio
import base64
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from functools import cache
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.core import keys, localservers
from services.core.jobqueue import UPSCALE_QUEUE
from services.core.settings import Settings, get_settings
from services.core.storage import open_store
from tests.api_client import auth, upload_clip
from tests.conftest import run_queues
from tests.media import write_clip

MakeApi = Callable[..., TestClient]


@pytest.fixture
def make_api(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakeApi]:
    """An in-process API whose settings differ from the defaults by `overrides`."""
    clients: list[TestClient] = []

    def make(**overrides: object) -> TestClient:
        for name, value in overrides.items():
            monkeypatch.setenv(f"SHARPR_{name.upper()}", value if isinstance(value, str) else json.dumps(value))
        get_settings.cache_clear()
        client = TestClient(create_app(), raise_server_exceptions=False)
        clients.append(client.__enter__())
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def webm(tmp_path: Path) -> Path:
    path = tmp_path / "clip.webm"
    write_clip(path, seconds=0.5, width=64, height=36, audio=False)
    return path


def new_stream(api: TestClient) -> dict:
    response = api.post("/v1/streams", json={})
    assert response.status_code == 201, response.text
    return response.json()


def error_code(response: httpx.Response) -> str:
    return response.json()["error"]["code"]


def put_objects(settings: Settings, objects: dict[str, bytes]) -> None:
    async def put() -> None:
        async with open_store(settings) as store:
            await asyncio.gather(*(store.put_bytes(key, body) for key, body in objects.items()))

    asyncio.run(put())


# --- access ----------------------------------------------------------------------------

@cache
def openapi_spec() -> dict:
    return create_app().openapi()


def token_routes() -> list[tuple[str, str]]:
    """Every (method, path) of the OpenAPI spec that names a stream: each must need its token."""
    return sorted((method.upper(), path) for path, item in openapi_spec()["paths"].items()
                  if "{stream_id}" in path for method in item)


def example_body(method: str, path: str) -> dict | None:
    """The route's documented example body, so only the token can be what is wrong."""
    operation = openapi_spec()["paths"][path][method.lower()]
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if content is None:
        return None
    ref = content["schema"].get("$ref", "")
    schema = openapi_spec()["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
    return (schema.get("examples") or [{}])[0]


def test_every_stream_route_is_in_the_token_check():
    routes = token_routes()
    assert ("GET", "/v1/streams/{stream_id}") in routes
    assert ("POST", "/v1/streams/{stream_id}/clips") in routes
    assert ("POST", "/v1/streams/{stream_id}/stop") in routes
    assert len(routes) >= 6


@pytest.mark.parametrize(("method", "path"), token_routes())
def test_a_token_never_opens_another_stream(api, method, path):
    mine, other = new_stream(api), new_stream(api)
    url = path.format(stream_id=mine["id"])
    body = example_body(method, path)
    if body is not None and "key" in body:
        body = {**body, "key": keys.input_key(mine["id"], body["seq"], "webm")}
    foreign = api.request(method, url, json=body, headers=auth(other["token"]))
    assert foreign.status_code == 401 and error_code(foreign) == "token_invalid"
    in_query = api.request(method, url, json=body, params={"token": other["token"]})
    assert in_query.status_code == 401 and error_code(in_query) == "token_invalid"
    missing = api.request(method, url, json=body)
    assert missing.status_code == 401 and error_code(missing) == "token_missing"
    assert api.get(f"/v1/streams/{mine['id']}", headers=auth(mine["token"])).json()["state"] == "live"


def test_presigned_upload_covers_one_key_and_expires_in_minutes(api, settings):
    stream = new_stream(api)
    grant = api.post(f"/v1/streams/{stream['id']}/uploads", json={"seq": 0}, headers=auth(stream["token"])).json()
    policy = json.loads(base64.b64decode(grant["fields"]["policy"]))
    expires = time.mktime(time.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert 0 < expires - time.time() <= settings.upload_expiry_seconds <= 15 * 60
    assert {"key": grant["key"]} in policy["conditions"]
    assert ["content-length-range", 1, settings.clip_max_bytes] in policy["conditions"]
    elsewhere = {**grant["fields"], "key": keys.input_key(stream["id"], 1, "webm")}
    refused = httpx.post(grant["url"], data=elsewhere, files={"file": ("c.webm", b"\x1a\x45\xdf\xa3", "video/webm")})
    assert refused.status_code == 403


def test_cors_origins_come_from_settings(make_api):
    api = make_api(cors_origins=["https://hub.example"])
    preflight = {"Access-Control-Request-Method": "POST"}
    allowed = api.options("/v1/streams", headers={**preflight, "Origin": "https://hub.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://hub.example"
    extension = api.options("/v1/streams", headers={**preflight, "Origin": "chrome-extension://abcdefgh"})
    assert "access-control-allow-origin" not in extension.headers


# --- limits ----------------------------------------------------------------------------

def test_body_over_the_limit_is_refused_before_parsing(make_api):
    api = make_api(request_max_bytes=1024)
    declared = api.post("/v1/streams", content=b"{" + b" " * 2048 + b"}", headers={"Content-Type": "application/json"})
    assert declared.status_code == 413 and error_code(declared) == "body_too_large"
    chunked = api.post("/v1/streams", content=iter([b"{", b" " * 2048, b"}"]),
                       headers={"Content-Type": "application/json"})
    assert chunked.status_code == 413 and error_code(chunked) == "body_too_large"
    small_chunked = api.post("/v1/streams", content=iter([b'{"mode": ', b'"anime"}']),
                             headers={"Content-Type": "application/json"})
    assert small_chunked.status_code == 201


def assert_rate_limited(response: httpx.Response, code: str, window: int) -> None:
    assert response.status_code == 429 and error_code(response) == code
    assert 1 <= int(response.headers["retry-after"]) <= window


def test_requests_per_address_are_limited_and_probes_are_not(make_api):
    api = make_api(rate_limit_per_address=5, rate_limit_window_seconds=30)
    answers = [api.get("/v1/streams/" + "0" * 32) for _ in range(6)]
    assert [r.status_code for r in answers[:5]] == [404] * 5
    assert_rate_limited(answers[5], "rate_limited", 30)
    assert all(api.get("/healthz").status_code == 200 for _ in range(10))


def test_requests_per_token_are_limited_per_token(make_api):
    api = make_api(rate_limit_per_token=3, rate_limit_window_seconds=20)
    first, second = new_stream(api), new_stream(api)
    polls = [api.get(f"/v1/streams/{first['id']}", headers=auth(first["token"])) for _ in range(4)]
    assert [r.status_code for r in polls[:3]] == [200] * 3
    assert_rate_limited(polls[3], "rate_limited", 20)
    by_query = api.get(f"/v1/streams/{first['id']}", params={"token": first["token"]})
    assert_rate_limited(by_query, "rate_limited", 20)
    assert api.get(f"/v1/streams/{second['id']}", headers=auth(second["token"])).status_code == 200


def test_a_percent_encoded_token_is_counted_as_the_same_token(make_api):
    api = make_api(rate_limit_per_token=3, rate_limit_window_seconds=20)
    stream = new_stream(api)
    url = f"/v1/streams/{stream['id']}"
    encoded = "%{:02X}".format(ord(stream["token"][0])) + stream["token"][1:]
    polls = [api.get(f"{url}?token={encoded}") for _ in range(3)]
    assert [r.status_code for r in polls] == [200] * 3
    assert_rate_limited(api.get(url, headers=auth(stream["token"])), "rate_limited", 20)
    assert_rate_limited(api.get(f"{url}?token={encoded}"), "rate_limited", 20)


def test_a_second_token_parameter_is_refused(make_api):
    api = make_api(rate_limit_per_token=3, rate_limit_window_seconds=20)
    stream = new_stream(api)
    url = f"/v1/streams/{stream['id']}"
    for query in (f"token=decoy&token={stream['token']}", f"token={stream['token']}&token={stream['token']}",
                  f"%74oken=decoy&token={stream['token']}"):
        refused = api.get(f"{url}?{query}")
        assert refused.status_code == 400 and error_code(refused) == "token_duplicated", query
    events = api.get(f"{url}/events?token=decoy&token={stream['token']}")
    assert events.status_code == 400 and error_code(events) == "token_duplicated"
    assert api.get(url, params={"token": stream["token"]}).status_code == 200


def test_refusals_carry_cors_headers_for_the_extension(make_api):
    api = make_api(rate_limit_per_address=1)
    origin = {"Origin": "chrome-extension://abcdefgh"}
    api.get("/v1/streams/" + "0" * 32, headers=origin)
    refused = api.get("/v1/streams/" + "0" * 32, headers=origin)
    assert refused.status_code == 429
    assert refused.headers["access-control-allow-origin"] == "chrome-extension://abcdefgh"


def test_streams_per_address_are_limited_across_every_way_to_create_one(make_api):
    api = make_api(streams_per_address=2, streams_per_address_window_seconds=600)
    assert api.post("/v1/streams", json={}).status_code == 201
    assert api.post("/v1/videos/uploads", json={}).status_code == 201
    for path, body in [("/v1/streams", {}), ("/v1/videos/uploads", {}),
                       ("/v1/videos", {"url": "https://example.com/a.mp4"}),
                       ("/process-video", {"video_url": "https://example.com/a.mp4"})]:
        assert_rate_limited(api.post(path, json=body), "too_many_streams", 600)


def test_clips_per_stream_are_limited(make_api):
    api = make_api(max_clips_per_stream=2)
    stream = new_stream(api)
    key = keys.input_key(stream["id"], 2, "webm")
    response = api.post(f"/v1/streams/{stream['id']}/clips", json={"seq": 2, "key": key}, headers=auth(stream["token"]))
    assert response.status_code == 422 and error_code(response) == "too_many_clips"


def grant(api: TestClient, stream: dict, seq: int) -> httpx.Response:
    return api.post(f"/v1/streams/{stream['id']}/uploads", json={"seq": seq}, headers=auth(stream["token"]))


def register(api: TestClient, stream: dict, seq: int) -> httpx.Response:
    key = keys.input_key(stream["id"], seq, "webm")
    return api.post(f"/v1/streams/{stream['id']}/clips", json={"seq": seq, "key": key}, headers=auth(stream["token"]))


def test_upload_grants_stop_at_the_clip_limit_and_at_stop(make_api):
    api = make_api(max_clips_per_stream=2)
    stream = new_stream(api)
    assert grant(api, stream, 1).status_code == 200
    for seq in (2, 2**63 - 1):
        refused = grant(api, stream, seq)
        assert refused.status_code == 422 and error_code(refused) == "too_many_clips"
    assert api.post(f"/v1/streams/{stream['id']}/stop", headers=auth(stream["token"])).status_code == 202
    late = grant(api, stream, 0)
    assert late.status_code == 409 and error_code(late) == "stream_not_live"


def test_upload_grants_are_charged_against_the_stream_byte_budget(make_api, webm):
    """Each live grant holds clip_max_bytes; once it expires a registered clip holds its size."""
    clip_max, expiry = 20_000, 3
    assert webm.stat().st_size < clip_max // 3
    api = make_api(clip_max_bytes=clip_max, stream_max_bytes=3 * clip_max, upload_expiry_seconds=expiry)
    stream, other = new_stream(api), new_stream(api)
    for seq in range(3):
        form = grant(api, stream, seq)
        assert form.status_code == 200, form.text
        files = {"file": ("c.webm", webm.read_bytes(), "video/webm")}
        assert httpx.post(form.json()["url"], data=form.json()["fields"], files=files).status_code == 204
        if seq < 2:  # clip 2 is uploaded, not registered yet
            assert register(api, stream, seq).status_code == 202
    full = grant(api, stream, 3)
    assert full.status_code == 413 and error_code(full) == "stream_storage_full"
    assert grant(api, stream, 2).status_code == 200  # the same unregistered clip again: its charge is replaced
    assert grant(api, other, 0).status_code == 200  # another stream has its own budget
    time.sleep(expiry + 0.5)  # grants expired: each clip now holds its real size
    assert grant(api, stream, 3).status_code == 200


def test_a_registered_clip_gets_no_new_grant_and_an_upload_over_it_is_not_read(make_api, redis, webm):
    """Reproduced from outside: after registering clip 0 a new grant for it was given and a
    1 MB random body uploaded over the checked clip, past the byte ledger. Now a registered
    clip gets no grant, and the worker reads only the object whose ETag was checked, so
    even the grant given before registration, still valid, cannot swap the clip."""
    api = make_api()
    stream = new_stream(api)
    form = grant(api, stream, 0).json()
    assert httpx.post(form["url"], data=form["fields"], files={"file": ("c.webm", webm.read_bytes())}).status_code == 204
    assert register(api, stream, 0).status_code == 202

    again = grant(api, stream, 0)
    assert again.status_code == 409 and error_code(again) == "clip_exists"
    swap = httpx.post(form["url"], data=form["fields"], files={"file": ("c.webm", os.urandom(1 << 20))})
    assert swap.status_code == 204  # S3 itself cannot revoke a grant before it expires
    run_queues(redis, UPSCALE_QUEUE)

    clip = api.get(f"/v1/streams/{stream['id']}", headers=auth(stream["token"])).json()["clips"][0]
    assert (clip["state"], clip["error_code"]) == ("failed", "clip_replaced")


def test_clip_over_the_byte_limit_is_refused_at_registration(make_api, settings, webm):
    api = make_api(clip_max_bytes=webm.stat().st_size - 1)
    stream = new_stream(api)
    key = keys.input_key(stream["id"], 0, "webm")
    put_objects(settings, {key: webm.read_bytes()})  # as a client writing around the grant would
    response = api.post(f"/v1/streams/{stream['id']}/clips", json={"seq": 0, "key": key}, headers=auth(stream["token"]))
    assert response.status_code == 413 and error_code(response) == "clip_too_large"
    assert upload_clip(api, stream, 1, webm.read_bytes()).status_code == 400  # S3 refuses it too


# --- open event streams ----------------------------------------------------------------

@pytest.fixture
def serve_api(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., str]]:
    """The API under a real uvicorn (in a thread), which TestClient cannot replace here:
    it waits for a response's end, and an event stream has none."""
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def serve(**overrides: object) -> str:
        for name, value in overrides.items():
            monkeypatch.setenv(f"SHARPR_{name.upper()}", str(value))
        get_settings.cache_clear()
        port = localservers.free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        servers.append((server, thread))
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return f"http://127.0.0.1:{port}"

    yield serve
    for server, thread in servers:
        server.should_exit = True
        thread.join(10)


def open_events(stack: ExitStack, client: httpx.Client, stream: dict) -> httpx.Response:
    """An event stream held open until `stack` closes; its response once headers arrive."""
    return stack.enter_context(client.stream("GET", f"/v1/streams/{stream['id']}/events",
                                             params={"token": stream["token"]}))


def test_open_event_streams_are_capped_per_token_and_per_address(serve_api):
    base = serve_api(events_per_token=2, events_per_address=3)
    with httpx.Client(base_url=base, timeout=10) as client:
        first, second = (client.post("/v1/streams", json={}).json() for _ in range(2))
        with ExitStack() as held:
            assert [open_events(held, client, first).status_code for _ in range(2)] == [200, 200]
            refused = client.get(f"/v1/streams/{first['id']}/events", params={"token": first["token"]})
            assert refused.status_code == 429 and error_code(refused) == "too_many_event_streams"
            assert int(refused.headers["retry-after"]) >= 1
            assert client.get(f"/v1/streams/{first['id']}", headers=auth(first["token"])).status_code == 200
            assert open_events(held, client, second).status_code == 200
            by_address = client.get(f"/v1/streams/{second['id']}/events", params={"token": second["token"]})
            assert by_address.status_code == 429 and error_code(by_address) == "too_many_event_streams"
        deadline = time.monotonic() + 10  # closed streams give their slots back
        while True:
            with ExitStack() as held:
                if open_events(held, client, first).status_code == 200:
                    break
            assert time.monotonic() < deadline, "slots were not freed"
            time.sleep(0.2)


# --- stop against registration ---------------------------------------------------------

class CommandLog:
    """Redis's own order of execution (MONITOR) for one stream's keys, until a marker."""

    def __init__(self, redis, stream_id: str) -> None:
        self.redis, self.prefix = redis, keys.redis_stream(stream_id)
        self.marker = f"done-{stream_id}"
        self.commands: list[str] = []
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.watch)
        self.thread.start()
        assert self.ready.wait(5)

    def watch(self) -> None:
        with self.redis.monitor() as monitor:
            self.ready.set()
            for entry in monitor.listen():
                command = entry["command"]
                if self.marker in command:
                    return
                if self.prefix in command:
                    self.commands.append(command)

    def finish(self) -> list[str]:
        self.redis.echo(self.marker)
        self.thread.join(10)
        return self.commands


def test_no_clip_is_registered_after_a_concurrent_stop(api, settings, redis, webm):
    stream = new_stream(api)
    clips = 48
    put_objects(settings, {keys.input_key(stream["id"], seq, "webm"): webm.read_bytes() for seq in range(clips)})
    headers = auth(stream["token"])

    def register(seq: int) -> httpx.Response:
        return api.post(f"/v1/streams/{stream['id']}/clips", headers=headers,
                        json={"seq": seq, "key": keys.input_key(stream["id"], seq, "webm")})

    log = CommandLog(redis, stream["id"])
    with ThreadPoolExecutor(16) as pool:
        early = [pool.submit(register, seq) for seq in range(clips // 2)]
        stop = pool.submit(api.post, f"/v1/streams/{stream['id']}/stop", headers=headers)
        late = [pool.submit(register, seq) for seq in range(clips // 2, clips)]
        answers = [future.result() for future in early + late]
    assert stop.result().status_code == 202
    commands = log.finish()

    accepted = {seq for seq, r in enumerate(answers) if r.status_code == 202}
    refused = [r for r in answers if r.status_code != 202]
    assert all(r.status_code == 409 and error_code(r) == "stream_not_live" for r in refused)
    assert accepted and refused, "the stop did not land among the registrations"
    assert set(map(int, redis.zrange(keys.redis_clip_index(stream["id"]), 0, -1))) == accepted
    stopped_at = next(i for i, c in enumerate(commands)
                      if re.match(rf"SET {keys.redis_stream(stream['id'])} ", c) and "ending" in c)
    index = keys.redis_clip_index(stream["id"])
    assert not [c for c in commands[stopped_at:] if c.startswith(f"ZADD {index} ")]
