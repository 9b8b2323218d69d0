"""Storage stays bounded: idle streams end, ended streams and orphaned objects go after the
retention time, `DELETE /v1/streams/{id}` removes one now, and the sweep keeps itself
scheduled. Real API, worker, packager, Redis and S3; short times set as an operator would.
"""

import asyncio
import time
from pathlib import Path

import pytest
from redis import Redis
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from services.core import keys
from services.core.jobqueue import PACKAGE_QUEUE, schedule_sweep
from services.core.settings import Settings, get_settings
from services.core.storage import open_store
from services.packager.sweep import sweep_streams
from tests.api_client import auth, send_clip
from tests.conftest import run_queues
from tests.media import write_clip
from tests.stream_checks import object_keys


def configure(monkeypatch: pytest.MonkeyPatch, **values: object) -> Settings:
    for name, value in values.items():
        monkeypatch.setenv(f"SHARPR_{name.upper()}", str(value))
    get_settings.cache_clear()
    return get_settings()


def objects(settings: Settings, stream_id: str) -> list[str]:
    return object_keys(settings, keys.stream_prefix(stream_id))


def put(settings: Settings, key: str, body: bytes = b"x") -> None:
    async def write() -> None:
        async with open_store(settings) as store:
            await store.put_bytes(key, body)

    asyncio.run(write())


def redis_keys(redis: Redis, stream_id: str) -> list[bytes]:
    return [*redis.scan_iter(f"{keys.redis_stream(stream_id)}*")]


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    path = tmp_path / "clip.webm"
    write_clip(path, seconds=1.0)
    return path


def test_stream_ended_longer_ago_than_the_retention_leaves_no_object_or_key(
    api, settings, redis, clip, monkeypatch
):
    settings = configure(monkeypatch, retention_seconds=2)
    ended = api.post("/v1/streams", json={}).json()
    assert send_clip(api, ended, 0, clip).status_code == 202
    assert api.post(f"/v1/streams/{ended['id']}/stop", headers=auth(ended["token"])).status_code == 202
    run_queues(redis, "upscale", "package")
    assert api.get(f"/v1/streams/{ended['id']}", headers=auth(ended["token"])).json()["state"] == "ended"
    made = objects(settings, ended["id"])
    assert {keys.playlist_key(ended["id"]), keys.download_key(ended["id"]),
            keys.input_key(ended["id"], 0, "webm"), keys.output_part_key(ended["id"], 0, 0)} <= set(made)
    assert redis.exists(keys.redis_clip(ended["id"], 0), keys.redis_clip_parts(ended["id"], 0)) == 2
    # A stream whose Redis state expired long ago, only its objects left.
    orphan = "0" * 31 + "1"
    put(settings, keys.playlist_key(orphan))
    live = api.post("/v1/streams", json={}).json()
    assert send_clip(api, live, 0, clip).status_code == 202

    time.sleep(3)  # S3's LastModified has whole seconds
    sweep_streams()

    assert objects(settings, ended["id"]) == [] and redis_keys(redis, ended["id"]) == []
    assert objects(settings, orphan) == []
    assert objects(settings, live["id"]) == [keys.input_key(live["id"], 0, "webm")]
    assert api.get(f"/v1/streams/{live['id']}", headers=auth(live["token"])).json()["state"] == "live"
    gone = api.get(f"/v1/streams/{ended['id']}", headers=auth(ended["token"]))
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "stream_not_found"


def test_stream_nobody_stopped_ends_after_the_idle_time_and_its_playlist_closes(api, settings, redis, clip, monkeypatch):
    configure(monkeypatch, stream_idle_seconds=2)
    idle = api.post("/v1/streams", json={}).json()
    assert send_clip(api, idle, 0, clip).status_code == 202
    busy = api.post("/v1/streams", json={}).json()

    time.sleep(1.2)
    assert send_clip(api, busy, 0, clip).status_code == 202  # a clip keeps it alive
    time.sleep(1.2)
    sweep_streams()

    assert api.get(f"/v1/streams/{idle['id']}", headers=auth(idle["token"])).json()["state"] == "ending"
    assert api.get(f"/v1/streams/{busy['id']}", headers=auth(busy["token"])).json()["state"] == "live"
    late = api.post(f"/v1/streams/{idle['id']}/uploads", json={"seq": 1}, headers=auth(idle["token"]))
    assert late.status_code == 409 and late.json()["error"]["code"] == "stream_not_live"
    run_queues(redis, "upscale", "package")
    status = api.get(f"/v1/streams/{idle['id']}", headers=auth(idle["token"])).json()
    assert status["state"] == "ended" and [c["state"] for c in status["clips"]] == ["packaged"]


def test_delete_removes_the_stream_and_its_objects_now(api, settings, redis, clip):
    stream = api.post("/v1/streams", json={}).json()
    assert send_clip(api, stream, 0, clip).status_code == 202
    assert objects(settings, stream["id"])

    deleted = api.delete(f"/v1/streams/{stream['id']}", headers=auth(stream["token"]))

    assert deleted.status_code == 204 and deleted.content == b""
    assert objects(settings, stream["id"]) == [] and redis_keys(redis, stream["id"]) == []
    again = api.delete(f"/v1/streams/{stream['id']}", headers=auth(stream["token"]))
    assert again.status_code == 404 and again.json()["error"]["code"] == "stream_not_found"
    run_queues(redis, "upscale", "package")  # the queued clip finds no stream and writes nothing
    assert objects(settings, stream["id"]) == []


def test_delete_removes_the_output_size_an_announced_capture_fixed(api, redis):
    stream = api.post("/v1/streams", json={"capture": {"width": 426, "height": 240, "fps": 30}}).json()
    assert redis_keys(redis, stream["id"])

    assert api.delete(f"/v1/streams/{stream['id']}", headers=auth(stream["token"])).status_code == 204
    assert redis_keys(redis, stream["id"]) == []


def test_the_sweep_is_scheduled_once_by_every_start_and_by_each_run(api, settings, redis):
    registry = ScheduledJobRegistry(PACKAGE_QUEUE, connection=redis)
    scheduled = registry.get_job_ids()
    assert len(scheduled) == 1 and scheduled[0].startswith("sweep-")  # the API's start did it
    assert schedule_sweep(redis, settings).id == scheduled[0]
    assert registry.get_job_ids() == scheduled

    Job.fetch(scheduled[0], connection=redis).delete()
    sweep_streams()

    assert len(registry.get_job_ids()) == 1
    next_run = registry.get_scheduled_time(registry.get_job_ids()[0]).timestamp()
    assert 0 < next_run - time.time() <= settings.retention_sweep_seconds
