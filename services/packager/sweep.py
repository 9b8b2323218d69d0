"""RQ job `sweep_streams`: ends streams left idle and removes streams past their retention.

Runs on the "package" queue every `retention_sweep_seconds` (`jobqueue.schedule_sweep`:
each run schedules the next; every API start schedules one too), so the packager, which
always runs, does it and no extra process is needed. Safe to run twice or concurrently:
ending an ended stream and deleting deleted keys or objects change nothing.

Two passes:
- Streams in Redis, by their last clip or state change (the activity index): a live one
  idle for `stream_idle_seconds` is ended like a stop (its playlist closes); one that
  ended (or failed) more than `retention_seconds` ago is removed, keys and objects.
- Objects in the bucket, by listing `streams/`: a stream whose Redis state is gone (it
  expired, or was deleted while a job still wrote) is removed once its newest object is
  older than `retention_seconds`, so nothing stays for want of a Redis key.
"""

import asyncio
import logging
import time

from services.core import keys
from services.core.jobqueue import redis_client, schedule_sweep
from services.core.retention import remove_stream
from services.core.schemas import StreamState
from services.core.settings import Settings, get_settings
from services.core.storage import ObjectStore, open_store
from services.core.stream_transitions import end_stream
from services.core.streams import StreamStore

log = logging.getLogger(__name__)


def sweep_streams() -> None:
    settings = get_settings()
    redis = redis_client(settings.redis_url)
    try:
        asyncio.run(sweep(settings, StreamStore(redis, settings.stream_ttl_seconds), time.time()))
    finally:
        schedule_sweep(redis, settings)


async def sweep(settings: Settings, streams: StreamStore, now: float) -> None:
    async with open_store(settings) as store:
        ended, removed = await _sweep_known(settings, streams, store, now)
        orphans = await _sweep_orphans(settings, streams, store, now)
    log.info("event=sweep ended=%d removed=%d orphans_removed=%d", ended, removed, orphans)


async def _sweep_known(settings: Settings, streams: StreamStore, store: ObjectStore, now: float) -> tuple[int, int]:
    ended = removed = 0
    stale = min(settings.stream_idle_seconds, settings.retention_seconds)
    for stream_id, active_at in (await asyncio.to_thread(streams.inactive_since, now - stale)).items():
        stream = await asyncio.to_thread(streams.get_stream, stream_id)
        if stream is None:  # its keys expired: the bucket pass finds its objects
            await asyncio.to_thread(streams.delete_stream, stream_id)
        elif stream.state == StreamState.live:
            if active_at <= now - settings.stream_idle_seconds:
                await asyncio.to_thread(end_stream, streams, settings, stream)
                log.info("event=stream_idle_ended stream=%s", stream_id)
                ended += 1
        elif active_at <= now - settings.retention_seconds:
            await remove_stream(streams, store, stream_id, reason="retention")
            removed += 1
    return ended, removed


async def _sweep_orphans(settings: Settings, streams: StreamStore, store: ObjectStore, now: float) -> int:
    newest: dict[str, float] = {}
    async for key, modified in store.list_objects("streams/"):
        stream_id = keys.parse_stream_prefix(key)
        if stream_id is not None:
            newest[stream_id] = max(newest.get(stream_id, 0.0), modified)
    removed = 0
    for stream_id, modified in newest.items():
        if modified > now - settings.retention_seconds:
            continue
        if await asyncio.to_thread(streams.get_stream, stream_id) is None:
            await remove_stream(streams, store, stream_id, reason="orphaned")
            removed += 1
    return removed
