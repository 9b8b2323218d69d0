"""Removing a stream for good: its Redis state, then every object under its prefix.

Used by `DELETE /v1/streams/{id}` and by the packager's sweep (`services.packager.sweep`).
The Redis record goes first, so the API refuses the stream's clips and workers drop its
jobs at once; an object a running job still writes afterwards has no Redis state, and the
sweep removes it once it is older than the retention time.
"""

import asyncio
import logging

from services.core import keys
from services.core.storage import ObjectStore
from services.core.streams import StreamStore

log = logging.getLogger(__name__)


async def remove_stream(streams: StreamStore, store: ObjectStore, stream_id: str, *, reason: str) -> int:
    """Delete the stream's keys and objects; how many objects there were."""
    await asyncio.to_thread(streams.delete_stream, stream_id)
    removed = await store.delete_prefix(keys.stream_prefix(stream_id))
    log.info("event=stream_removed stream=%s objects=%d reason=%s", stream_id, removed, reason)
    return removed
