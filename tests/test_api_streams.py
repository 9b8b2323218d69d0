import asyncio
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from rq import Queue

from services.api.app import create_app
from services.core import localservers
from services.core.jobqueue import UPSCALE_QUEUE
from services.core.schemas import Clip, ClipState
from services.core.settings import get_settings
from services.core.storage import open_store
from services.core.streams import StreamStore
from tests.api_client import auth, send_clip, upload_clip
from tests.media import write_clip


@pytest.fixture
def stream(api) -> dict:
    response = api.post("/v1/streams", json={"mode": "anime", "scale": 2})
    assert response.status_code == 201
    return response.json()


@pytest.fixture
def webm(tmp_path: Path) -> Path:
    path = tmp_path / "clip.webm"
    write_clip(path, seconds=1.0)
    return path


def error_code(response: httpx.Response) -> str:
    return response.json()["error"]["code"]


def test_create_stream_returns_token_playlist_and_limits(stream, settings):
    assert len(stream["id"]) == 32 and len(stream["token"]) > 30
    assert stream["playlist_url"] == f"{settings.s3_browser_url}/streams/{stream['id']}/hls/index.m3u8"
    assert stream["limits"]["clip_max_bytes"] == settings.clip_max_bytes
    assert stream["state"] == "live"


def test_registered_clip_is_queued_and_shown_in_status(api, stream, webm, redis):
    response = send_clip(api, stream, 0, webm)
    assert response.status_code == 202
    assert response.json()["state"] == "queued"
    status = api.get(f"/v1/streams/{stream['id']}", headers=auth(stream["token"])).json()
    assert [clip["seq"] for clip in status["clips"]] == [0]
    assert redis.llen("rq:queue:upscale") == 1


def test_a_stream_keeps_its_tier_setting_and_each_clip_the_tier_its_client_chose(api, webm):
    fixed = api.post("/v1/streams", json={"mode": "live_action", "tier": "fast"}).json()
    assert fixed["enhancement"]["tier"] == "fast"
    stream = api.post("/v1/streams", json={"mode": "anime"}).json()
    assert stream["enhancement"]["tier"] == "auto"  # the default: chosen per clip

    assert send_clip(api, stream, 0, webm, tier="balanced").json()["tier"] == "balanced"
    assert send_clip(api, stream, 1, webm).json()["tier"] is None  # no choice: the worker decides
    status = api.get(f"/v1/streams/{stream['id']}", headers=auth(stream["token"])).json()
    assert [clip["tier"] for clip in status["clips"]] == ["balanced", None]


@pytest.mark.parametrize("body", [{"tier": "turbo"}, {"tier": "auto"}])
def test_a_clip_refuses_a_tier_that_is_not_one_network(api, stream, webm, body):
    refused = send_clip(api, stream, 0, webm, **body)
    assert refused.status_code == 422 and error_code(refused) == "invalid_request"
    assert "tier" in refused.json()["error"]["message"]


def test_status_shows_every_clip_or_only_the_newest(api, stream, webm):
    for seq in range(3):
        assert send_clip(api, stream, seq, webm).status_code == 202
    url, headers = f"/v1/streams/{stream['id']}", auth(stream["token"])

    assert [clip["seq"] for clip in api.get(url, headers=headers).json()["clips"]] == [0, 1, 2]
    for newest, seqs in ((2, [1, 2]), (5, [0, 1, 2]), (0, [])):
        shown = api.get(url, params={"newest_clips": newest}, headers=headers).json()["clips"]
        assert [clip["seq"] for clip in shown] == seqs
    refused = api.get(url, params={"newest_clips": -1}, headers=headers)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_request"


def test_presigned_post_refuses_bodies_over_the_limit(api, stream, monkeypatch, settings):
    monkeypatch.setattr(settings, "clip_max_bytes", 1000)
    assert upload_clip(api, stream, 0, b"x" * 2000).status_code == 400


def test_non_video_upload_is_refused(api, stream):
    assert upload_clip(api, stream, 0, b"this is not a video at all").status_code == 204
    key = f"streams/{stream['id']}/input/000000.webm"
    response = api.post(f"/v1/streams/{stream['id']}/clips", json={"seq": 0, "key": key}, headers=auth(stream["token"]))
    assert response.status_code == 422 and error_code(response) == "not_video"


def test_zero_byte_clip_is_refused(api, stream, settings):
    key = f"streams/{stream['id']}/input/000000.webm"

    async def put_empty() -> None:
        async with open_store(settings) as store:
            await store.put_bytes(key, b"")

    asyncio.run(put_empty())
    response = api.post(f"/v1/streams/{stream['id']}/clips", json={"seq": 0, "key": key}, headers=auth(stream["token"]))
    assert response.status_code == 422 and error_code(response) == "clip_empty"


def test_clip_never_uploaded_is_refused(api, stream):
    key = f"streams/{stream['id']}/input/000003.webm"
    response = api.post(f"/v1/streams/{stream['id']}/clips", json={"seq": 3, "key": key}, headers=auth(stream["token"]))
    assert response.status_code == 400 and error_code(response) == "clip_missing"


@pytest.mark.parametrize("key", [
    "streams/otherstream0000000000000000000000/input/000000.webm",
    "streams/{id}/output/000000.mp4",
    "streams/{id}/input/../../x/input/000000.webm",
    "/etc/passwd",
])
def test_key_outside_the_stream_prefix_is_refused(api, stream, key):
    response = api.post(
        f"/v1/streams/{stream['id']}/clips", json={"seq": 0, "key": key.format(id=stream["id"])},
        headers=auth(stream["token"]),
    )
    assert response.status_code == 400 and error_code(response) == "key_outside_stream"


def test_seq_registered_twice_is_a_conflict(api, stream, webm):
    assert send_clip(api, stream, 0, webm).status_code == 202
    key = f"streams/{stream['id']}/input/000000.webm"
    again = api.post(f"/v1/streams/{stream['id']}/clips", json={"seq": 0, "key": key}, headers=auth(stream["token"]))
    assert again.status_code == 409 and error_code(again) == "clip_exists"


def test_retried_registration_queues_a_clip_left_unqueued_once(api, stream, webm, redis, settings):
    """An API process that died between registering clip 0 and queueing its upscale left it
    registered but unqueued; the client's retry still gets 409, and now queues the upscale,
    once however often it is retried."""
    assert upload_clip(api, stream, 0, webm.read_bytes()).status_code == 204
    key = f"streams/{stream['id']}/input/000000.webm"
    StreamStore(redis, settings.stream_ttl_seconds).insert_clip(
        Clip(stream_id=stream["id"], seq=0, key=key, state=ClipState.queued)
    )  # what the dead process managed to do
    upscale = Queue(UPSCALE_QUEUE, connection=redis)
    assert upscale.job_ids == []
    for _ in range(2):
        again = api.post(f"/v1/streams/{stream['id']}/clips", json={"seq": 0, "key": key},
                         headers=auth(stream["token"]))
        assert again.status_code == 409 and error_code(again) == "clip_exists"
    assert upscale.job_ids == [f"upscale-{stream['id']}-0"]


def test_missing_and_wrong_tokens_are_refused(api, stream):
    other = api.post("/v1/streams", json={}).json()
    path = f"/v1/streams/{stream['id']}"
    missing = api.get(path)
    assert missing.status_code == 401 and error_code(missing) == "token_missing"
    wrong = api.get(path, headers=auth("not-the-token"))
    assert wrong.status_code == 401 and error_code(wrong) == "token_invalid"
    foreign = api.post(f"{path}/uploads", json={"seq": 0}, headers=auth(other["token"]))
    assert foreign.status_code == 401 and error_code(foreign) == "token_invalid"


def test_unknown_stream_and_bad_bodies_get_json_errors(api, stream):
    unknown = api.get("/v1/streams/" + "0" * 32, headers=auth(stream["token"]))
    assert unknown.status_code == 404 and error_code(unknown) == "stream_not_found"
    bad = api.post(f"/v1/streams/{stream['id']}/uploads", json={"seq": -1}, headers=auth(stream["token"]))
    assert bad.status_code == 422 and error_code(bad) == "invalid_request"
    bad_mode = api.post("/v1/streams", json={"mode": "cartoon"})
    assert bad_mode.status_code == 422 and error_code(bad_mode) == "invalid_request"
    bad_tier = api.post("/v1/streams", json={"tier": "turbo"})
    assert bad_tier.status_code == 422 and error_code(bad_tier) == "invalid_request"
    nowhere = api.get("/nowhere")
    assert nowhere.status_code == 404 and error_code(nowhere) == "not_found"


def test_stop_refuses_further_clips(api, stream, webm):
    granted = api.post(f"/v1/streams/{stream['id']}/uploads", json={"seq": 0}, headers=auth(stream["token"]))
    assert granted.status_code == 200
    stop = api.post(f"/v1/streams/{stream['id']}/stop", headers=auth(stream["token"]))
    assert stop.status_code == 202 and stop.json()["state"] == "ending"
    no_grant = api.post(f"/v1/streams/{stream['id']}/uploads", json={"seq": 1}, headers=auth(stream["token"]))
    assert no_grant.status_code == 409 and error_code(no_grant) == "stream_not_live"
    key = granted.json()["key"]  # uploaded with the grant taken before the stop
    assert httpx.post(granted.json()["url"], data=granted.json()["fields"],
                      files={"file": ("c.webm", webm.read_bytes())}).status_code == 204
    late = api.post(f"/v1/streams/{stream['id']}/clips", json={"seq": 0, "key": key}, headers=auth(stream["token"]))
    assert late.status_code == 409 and error_code(late) == "stream_not_live"


def test_health_readiness_and_metrics(api):
    assert api.get("/healthz").json() == {"status": "ok"}
    assert api.get("/readyz").json() == {"status": "ready"}
    metrics = api.get("/metrics")
    assert "sharpr_queue_jobs" in metrics.text and "sharpr_http_requests_total" in metrics.text


def test_readiness_names_no_host_when_a_dependency_is_down(settings, monkeypatch):
    port = localservers.free_port()  # nothing listens there
    monkeypatch.setenv("SHARPR_REDIS_URL", f"redis://127.0.0.1:{port}/0")
    get_settings.cache_clear()
    with TestClient(create_app(), raise_server_exceptions=False) as api:
        response = api.get("/readyz")
        assert response.status_code == 503
        assert response.json() == {"error": {"code": "not_ready", "message": "not ready"}}
    assert REGISTRY.get_sample_value("sharpr_dependency_up", {"dependency": "redis"}) == 0
    assert REGISTRY.get_sample_value("sharpr_dependency_up", {"dependency": "s3"}) == 1


def test_cors_allows_extension_origins(api):
    response = api.options("/v1/streams", headers={
        "Origin": "chrome-extension://abcdefghijklmnop", "Access-Control-Request-Method": "POST",
    })
    assert response.headers["access-control-allow-origin"] == "chrome-extension://abcdefghijklmnop"
    refused = api.options("/v1/streams", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in refused.headers


def test_openapi_documents_examples(api):
    spec = api.get("/openapi.json").json()
    assert "/v1/streams/{stream_id}/clips" in spec["paths"]
    assert "examples" in spec["components"]["schemas"]["StreamCreated"]


def test_a_stream_created_with_its_capture_has_its_output_fixed_and_the_model_warmed(api, redis):
    response = api.post("/v1/streams", json={"mode": "anime", "scale": 2,
                                              "capture": {"width": 426, "height": 240, "fps": 30}})

    assert response.status_code == 201
    created = response.json()
    assert created["output"] == {"width": 852, "height": 480}
    assert Queue(UPSCALE_QUEUE, connection=redis).job_ids == ["warm-anime-auto-2-426x240"]
    status = api.get(f"/v1/streams/{created['id']}", headers=auth(created["token"])).json()
    assert status["output"] == {"width": 852, "height": 480}
    assert status["capture"] == {"width": 426, "height": 240, "fps": 30.0}


def test_a_capture_over_the_pixel_limit_fixes_the_output_at_the_limit_times_the_scale(api, redis):
    response = api.post("/v1/streams", json={"scale": 2, "capture": {"width": 2560, "height": 1440, "fps": 30}})
    assert response.json()["output"] == {"width": 3840, "height": 2160}
    assert Queue(UPSCALE_QUEUE, connection=redis).job_ids == ["warm-anime-auto-2-1920x1080"]


def test_a_stream_without_capture_has_no_output_until_its_first_clip(api, stream, redis):
    assert stream["output"] is None
    status = api.get(f"/v1/streams/{stream['id']}", headers=auth(stream["token"])).json()
    assert status["output"] is None and status["capture"] is None
    assert Queue(UPSCALE_QUEUE, connection=redis).job_ids == []


@pytest.mark.parametrize(("capture", "code"), [
    ({"width": 0, "height": 240, "fps": 30}, "invalid_request"),
    ({"width": 426, "height": 240, "fps": 0}, "invalid_request"),
    ({"width": 426, "height": 240}, "invalid_request"),
    ({"width": "wide", "height": 240, "fps": 30}, "invalid_request"),
    ({"width": 5000, "height": 240, "fps": 30}, "invalid_request"),
    ({"width": 3840, "height": 3840, "fps": 30}, "capture_too_large"),
    ({"width": 426, "height": 240, "fps": 121}, "capture_fps_too_high"),
])
def test_bad_capture_values_are_refused(api, redis, capture, code):
    response = api.post("/v1/streams", json={"mode": "anime", "capture": capture})
    assert response.status_code == 422 and error_code(response) == code
    assert redis.keys("sharpr:stream:*") == []
