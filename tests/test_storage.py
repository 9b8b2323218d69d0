"""Large objects go to and come from the real S3 server without the process holding them whole;
uploads their writer left are aborted, and a prefix is deleted a listed page at a time."""

import asyncio
import hashlib
import os
import time
import tracemalloc
from pathlib import Path

import pytest

from services.core import keys
from services.core.settings import Settings, get_settings
from services.core.storage import open_store

PART = 5 * 1024 * 1024  # the smallest part S3 (and SeaweedFS) takes
SIZE = 20 * PART + 12345  # 100 MiB and a short last part


@pytest.fixture
def small_parts(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The smallest part size, so a 100-MiB file takes the multipart path in 21 parts."""
    monkeypatch.setenv("SHARPR_S3_PART_BYTES", str(PART))
    get_settings.cache_clear()
    return get_settings()


def write_random(path: Path, size: int) -> str:
    """Fill `path` with `size` random bytes, a MiB at a time; their sha256."""
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for start in range(0, size, 1 << 20):
            chunk = os.urandom(min(1 << 20, size - start))
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


async def traced_peak(transfer) -> int:
    """The most bytes Python held at once while `transfer` ran."""
    tracemalloc.start()
    try:
        await transfer
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_file_over_the_part_size_round_trips_byte_exact_in_bounded_memory(small_parts, tmp_path):
    source, back = tmp_path / "enhanced.mp4", tmp_path / "back.mp4"
    digest = write_random(source, SIZE)
    key = keys.download_key("s" * 32)

    async def round_trip() -> tuple[int, int, dict]:
        async with open_store(small_parts) as store:
            up = await traced_peak(store.put_file(key, source))
            down = await traced_peak(store.download_file(key, back))
            return up, down, await store.client.head_object(Bucket=store.bucket, Key=key)

    up_peak, down_peak, head = asyncio.run(round_trip())
    assert sha256_of(back) == digest
    assert head["ContentLength"] == SIZE and head["ContentType"] == "video/mp4"
    assert head["ETag"].strip('"').endswith("-21"), head["ETag"]  # a multipart object of 21 parts
    # A few parts at a time (the whole file, twice over, before); a stream coming down.
    assert up_peak < SIZE / 2, f"upload held {up_peak} bytes of a {SIZE}-byte file"
    assert down_peak < 2 * 1024 * 1024, f"download held {down_peak} bytes of a {SIZE}-byte file"


def test_file_under_the_part_size_keeps_its_headers(settings, tmp_path):
    segment = tmp_path / "000000_000.ts"
    segment.write_bytes(b"segment bytes")
    key = keys.segment_key("s" * 32, 0, 0)

    async def put_and_head() -> dict:
        async with open_store(settings) as store:
            await store.put_file(key, segment, cache_control="public, max-age=60")
            return await store.client.head_object(Bucket=store.bucket, Key=key)

    head = asyncio.run(put_and_head())
    assert head["ContentLength"] == len(b"segment bytes") and "-" not in head["ETag"]
    assert head["ContentType"] == "video/mp2t" and head["CacheControl"] == "public, max-age=60"


def test_stores_opened_in_separate_event_loops_share_one_session_and_work(settings: Settings, tmp_path: Path) -> None:
    """As a worker opens them (one `asyncio.run` per transfer): the S3 model is parsed once."""
    source = tmp_path / "part.mp4"
    source.write_bytes(os.urandom(1000))

    async def round_trip(n: int) -> tuple[bytes, object]:
        async with open_store(settings) as store:
            await store.put_file(f"streams/s/output/{n}.mp4", source)
            await store.download_file(f"streams/s/output/{n}.mp4", tmp_path / f"back-{n}")
            return (tmp_path / f"back-{n}").read_bytes(), store.client._loader  # type: ignore[attr-defined]

    (first, loader_a), (second, loader_b) = asyncio.run(round_trip(0)), asyncio.run(round_trip(1))
    assert first == second == source.read_bytes()
    assert loader_a is loader_b


def test_a_multipart_upload_its_writer_left_is_aborted_by_age(settings):
    """A killed upload's parts stay stored, listed nowhere but here, until aborted."""
    key = keys.source_key("a" * 32)

    async def leave_and_sweep() -> tuple[int, int, list]:
        async with open_store(settings) as store:
            started = await store.client.create_multipart_upload(Bucket=store.bucket, Key=key)
            await store.client.upload_part(Bucket=store.bucket, Key=key, UploadId=started["UploadId"],
                                           PartNumber=1, Body=b"x" * 1024)
            young = await store.abort_stale_uploads("streams/", older_than=time.time() - 3600)
            old = await store.abort_stale_uploads("streams/", older_than=time.time() + 1)
            left = await store.client.list_multipart_uploads(Bucket=store.bucket, Prefix="streams/")
            return young, old, left.get("Uploads", [])

    young, old, left = asyncio.run(leave_and_sweep())
    assert (young, old, left) == (0, 1, [])


def test_a_prefix_of_more_than_a_page_is_deleted_page_by_page(settings):
    prefix = keys.stream_prefix("b" * 32)

    async def fill_and_delete() -> tuple[int, list[str]]:
        async with open_store(settings) as store:
            await asyncio.gather(*(store.put_bytes(f"{prefix}input/{n:06d}.webm", b"x") for n in range(1100)))
            removed = await store.delete_prefix(prefix)
            return removed, await store.list_keys(prefix)

    assert asyncio.run(fill_and_delete()) == (1100, [])
