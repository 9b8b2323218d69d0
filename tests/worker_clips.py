"""A clip put in place as the API leaves it (its input in S3, registered on a stream, its
upscale job queued), and a look at what a job wrote to S3: the worker tests' setup.
"""

import asyncio
from pathlib import Path

from services.core import keys
from services.core.clip_transitions import register_clip
from services.core.schemas import Enhancement, Tier
from services.core.settings import Settings
from services.core.storage import open_store
from services.core.streams import StreamStore


def upload(settings: Settings, key: str, path: Path) -> None:
    async def put() -> None:
        async with open_store(settings) as store:
            await store.put_file(key, path)

    asyncio.run(put())


def head(settings: Settings, key: str) -> dict | None:
    async def look() -> dict | None:
        async with open_store(settings) as store:
            return await store.head(key)

    return asyncio.run(look())


def registered_clip(
    settings: Settings, redis, tmp_path: Path, clip_file: Path | None, seq: int = 0, stream_id: str | None = None,
    tier: Tier | None = None,
) -> tuple[StreamStore, str]:
    """Clip `seq` registered and queued (its input uploaded unless None) on a new live
    stream, or on `stream_id`, with the client's choice of `tier`."""
    store = StreamStore(redis, settings.stream_ttl_seconds)
    if stream_id is None:
        stream_id = store.create_stream(Enhancement(scale=2))[0].id
    ext = clip_file.suffix.lstrip(".") if clip_file is not None else "webm"
    key = keys.input_key(stream_id, seq, ext)
    if clip_file is not None:
        upload(settings, key, clip_file)
    register_clip(store, settings, stream_id, seq, key, tier=tier)
    return store, stream_id
