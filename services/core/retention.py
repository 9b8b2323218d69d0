"""Removing a stream for good: a deletion marker, its Redis state, then every object under
its prefix.

Used by `DELETE /v1/streams/{id}` and by the packager's sweep (`services.packager.sweep`).
The marker goes first: a job still running for the stream (a worker mid-clip, a packager,
a live follower) checks it around every write a viewer could see (`check_not_deleted`),
stops there, and removes what it wrote meanwhile (`remove_leftovers`), so a deleted
stream's playlist cannot come back. The Redis record goes next, so the API refuses the
stream's clips and workers drop its queued jobs at once.
"""

import asyncio
import logging

from services.core import keys
from services.core.settings import Settings
from services.core.storage import ObjectStore, open_store
from services.core.streams import StreamStore

log = logging.getLogger(__name__)

# The marker outlives any job that may still be working for the stream (the longest, an
# ingest, runs at most 6.5 h, with three retries).
DELETED_MARKER_SECONDS = 2 * 86400


class StreamDeleted(Exception):
    """The stream was removed while a job was working for it."""


async def remove_stream(streams: StreamStore, store: ObjectStore, stream_id: str, *, reason: str) -> int:
    """Delete the stream's keys and objects; how many objects there were."""
    await asyncio.to_thread(streams.redis.set, keys.redis_deleted(stream_id), reason, ex=DELETED_MARKER_SECONDS)
    await asyncio.to_thread(streams.delete_stream, stream_id)
    removed = await store.delete_prefix(keys.stream_prefix(stream_id))
    log.info("event=stream_removed stream=%s objects=%d reason=%s", stream_id, removed, reason)
    return removed


def check_not_deleted(streams: StreamStore, stream_id: str) -> None:
    """`StreamDeleted` once the stream has been removed. Asked before a write a viewer could
    see and after it: a write that finished after the removal listed the prefix is found
    by the check after it, and removed by `remove_leftovers`."""
    if streams.redis.exists(keys.redis_deleted(stream_id)):
        raise StreamDeleted(stream_id)


async def remove_leftovers(settings: Settings, streams: StreamStore, stream_id: str) -> None:
    """What a job wrote for a stream removed under it: the removal again."""
    async with open_store(settings) as store:
        await remove_stream(streams, store, stream_id, reason="leftovers")
