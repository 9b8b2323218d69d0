"""Keeping a stream active while a job works for it without writing to it.

The idle sweep ends a live stream whose last clip or state change (the activity index,
`StreamStore.inactive_since`) is older than `stream_idle_seconds`. An ingest downloading
or re-encoding a long video writes nothing for that long, and was ended under itself.
"""

import logging
import time
from contextlib import AbstractContextManager

from redis.exceptions import RedisError

from services.core import keys
from services.core.repeating import repeated
from services.core.streams import StreamStore

log = logging.getLogger(__name__)


def kept_active(streams: StreamStore, stream_id: str, every: float) -> AbstractContextManager[None]:
    """Mark the stream active every `every` seconds until the block ends (only while it is
    in the index: a stream removed meanwhile is not brought back)."""

    def touch() -> bool:
        try:
            streams.redis.zadd(keys.REDIS_STREAM_ACTIVITY, {stream_id: time.time()}, xx=True)
        except RedisError:  # Redis away for a moment: the next touch makes up for it
            log.warning("event=activity_not_refreshed stream=%s", stream_id, exc_info=True)
        return True

    return repeated(every, touch, f"active-{stream_id}")
