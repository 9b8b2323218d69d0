"""RQ job `sweep_streams`: ends streams left idle and removes streams past their retention.

Runs on the "package" queue every `retention_sweep_seconds` (`jobqueue.schedule_sweep`:
each run schedules the next before it starts; every API start schedules one too), so the
packager, which always runs, does it and no extra process is needed. Safe to run twice or
concurrently: ending an ended stream and deleting deleted keys or objects change nothing.

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
    """One run, the next one scheduled first: a run killed midway (its packager gone) or
    failing (S3 away) still leaves the chain going, and the next run redoes its work."""
    settings = get_settings()
    redis = redis_client(settings.redis_url)
    schedule_sweep(redis, settings)
    asyncio.run(sweep(settings, StreamStore(redis, settings.stream_ttl_seconds), time.time()))


async def sweep(settings: Settings, streams: StreamStore, now: float) -> None:
    async with open_store(settings) as store:
        ended, removed = await _sweep_known(settings, streams, store, now)
        orphans = await _sweep_orphans(settings, streams, store, now)
        aborted = await store.abort_stale_uploads("streams/", now - STALE_UPLOAD_SECONDS)
    log.info("event=sweep ended=%d removed=%d orphans_removed=%d uploads_aborted=%d", ended, removed, orphans, aborted)


# Longer than any upload takes (an ingest's source parts go up as it cuts them).
STALE_UPLOAD_SECONDS = 24 * 3600


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
    """One stream prefix at a time as the listing passes it (keys come in order, so a
    stream's objects are together): memory is one stream's, and each is removed at once."""
    removed = 0
    current, newest = None, 0.0
    async for key, modified in store.list_objects("streams/"):
        stream_id = keys.parse_stream_prefix(key)
        if stream_id is None:
            continue
        if stream_id != current:
            removed += await _remove_if_orphaned(settings, streams, store, current, newest, now)
            current, newest = stream_id, modified
        newest = max(newest, modified)
    return removed + await _remove_if_orphaned(settings, streams, store, current, newest, now)


async def _remove_if_orphaned(
    settings: Settings, streams: StreamStore, store: ObjectStore, stream_id: str | None, newest: float, now: float,
) -> int:
    """1 if `stream_id`'s objects, the newest written at `newest`, outlived the retention
    with no Redis state and were removed, else 0."""
    if stream_id is None or newest > now - settings.retention_seconds:
        return 0
    if await asyncio.to_thread(streams.get_stream, stream_id) is not None:
        return 0
    await remove_stream(streams, store, stream_id, reason="orphaned")
    return 1
