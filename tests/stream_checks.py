"""What "the stream survived" means, checked on the published playlist in S3.

The playlist is parsed by the independent m3u8 package; it must be closed (ENDLIST), name
each clip's segments once, in order, with no gap or repeat, and last as long as the input.
"""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import m3u8

from services.core import keys
from services.core.settings import Settings
from services.core.storage import open_store


def object_keys(settings: Settings, prefix: str) -> list[str]:
    """Every key under `prefix` in the bucket."""

    async def listed() -> list[str]:
        async with open_store(settings) as store:
            return await store.list_keys(prefix)

    return asyncio.run(listed())


def object_bytes(settings: Settings, key: str) -> bytes:
    """A whole object from the bucket, read in a thread of its own (Playwright's sync API
    may own this thread's event loop)."""

    async def read() -> bytes:
        async with open_store(settings) as store:
            response = await store.client.get_object(Bucket=store.bucket, Key=key)
            async with response["Body"] as body:
                return await body.read()

    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, read()).result()


def read_playlist(settings: Settings, stream_id: str) -> m3u8.M3U8:
    return m3u8.loads(object_bytes(settings, keys.playlist_key(stream_id)).decode())


def assert_complete_playlist(settings: Settings, stream_id: str, clip_seconds: dict[int, float], fps: int) -> m3u8.M3U8:
    """Closed, every clip present in seq order, segment names unique and contiguous, and
    the durations adding up to the input's (within a frame per clip)."""
    playlist = read_playlist(settings, stream_id)
    assert playlist.is_endlist, "the playlist is not closed"
    names = [Path(segment.uri).name for segment in playlist.segments]
    assert len(names) == len(set(names)), f"duplicate segments: {names}"
    parsed = [tuple(int(part) for part in Path(name).stem.split("_")) for name in names]
    assert parsed == sorted(parsed), f"segments out of order: {names}"
    assert sorted({seq for seq, _n in parsed}) == sorted(clip_seconds), f"clips missing: {names}"
    for seq, seconds in clip_seconds.items():
        indexes = [n for s, n in parsed if s == seq]
        assert indexes == list(range(len(indexes))), f"clip {seq} has a gap: {names}"
        published = sum(seg.duration for seg, (s, _n) in zip(playlist.segments, parsed) if s == seq)
        assert abs(published - seconds) <= 1.5 / fps, f"clip {seq}: {published:.3f}s of {seconds}s"
    return playlist
