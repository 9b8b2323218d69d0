"""The live source a stream follows, kept in Redis beside the stream, and the lease that
lets one follower run at a time take from it.

Following is a chain of short RQ jobs (`services.ingest.live_follow`): each takes what is
new, saves how far it got here, and schedules the next. Whatever process runs the next
one (another ingest worker, the same one after a restart) resumes from `next_msn`. The
only code that reads or writes these keys.
"""

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import BaseModel, Field
from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from services.core import keys
from services.core.jobqueue import FOLLOW_TIMEOUT_SECONDS, enqueue_follow
from services.core.playlist_record import PlaylistRecord
from services.core.schemas import Clip, ClipState
from services.core.settings import Settings
from services.core.streams import StreamStore

# As long as a follower run may take: a killed run holds the source this long at most,
# and its retry (once RQ finds the run abandoned, past the same timeout) finds it free.
LEASE_SECONDS = FOLLOW_TIMEOUT_SECONDS
# Compare-and-delete: only the run that holds the lease releases it.
RELEASE_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class LiveSource(BaseModel):
    """Where the followed media playlist is and what has been taken from it."""

    playlist_url: str = Field(description="The media playlist followed (the chosen variant).")
    headers: dict[str, str] = Field(default_factory=dict)
    target: int = Field(0, description="The source's EXT-X-TARGETDURATION, from its first load.")
    tick: int = Field(0, description="Follower runs so far; names the next run's job.")
    next_msn: int | None = Field(None, description="Media sequence number to take next; None before the first load.")
    next_seq: int = Field(0, description="Clip number the next taken segment becomes.")
    segments_taken: int = 0
    seconds_taken: float = 0.0
    segments_missing: int = Field(0, description="Segments that could not be fetched (404) or slid away first.")
    skipped_seconds: float = Field(0.0, description="Source seconds skipped to catch up with the live edge.")
    discontinuity: bool = Field(False, description="The next clip starts after a jump in the source.")
    started_at: float = Field(default_factory=time.time)
    last_new_at: float = Field(default_factory=time.time, description="When a new segment last appeared.")
    original: PlaylistRecord = Field(default_factory=PlaylistRecord, description="`hls/original.m3u8`.")


def load_live_source(redis: Redis, stream_id: str) -> LiveSource | None:
    raw = redis.get(keys.redis_live_source(stream_id))
    return LiveSource.model_validate_json(raw) if raw else None


async def read_live_source(redis: AsyncRedis, stream_id: str) -> LiveSource | None:
    """`load_live_source` on the event loop, for the API's status."""
    raw = await redis.get(keys.redis_live_source(stream_id))
    return LiveSource.model_validate_json(raw) if raw else None


def save_live_source(redis: Redis, stream_id: str, source: LiveSource, ttl_seconds: int) -> None:
    redis.set(keys.redis_live_source(stream_id), source.model_dump_json(), ex=ttl_seconds)


def start_following(streams: StreamStore, settings: Settings, stream_id: str, source: LiveSource) -> bool:
    """Mark the stream as following `source` and queue its first follower run; False if
    the stream already follows one (a stream follows at most one source) or is gone."""
    stream = streams.get_stream(stream_id)
    if stream is None or stream.live_source:
        return False
    if not streams.redis.set(keys.redis_live_source(stream_id), source.model_dump_json(),
                             ex=streams.ttl, nx=True):
        return False
    streams.save_stream(stream.model_copy(update={"live_source": True}))
    enqueue_follow(streams.redis, settings, stream_id, source.tick, delay=0.0)
    return True


@contextmanager
def live_lease(redis: Redis, stream_id: str) -> Iterator[bool]:
    """Hold the stream's follower lease for the block if no other run holds it; yields
    whether it was taken. Not blocking: a run that finds it held leaves the work to the
    holder, which schedules the next run itself."""
    key, token = keys.redis_live_lease(stream_id), secrets.token_hex(8)
    taken = bool(redis.set(key, token, nx=True, ex=LEASE_SECONDS))
    try:
        yield taken
    finally:
        if taken:
            redis.eval(RELEASE_LEASE, 1, key, token)


def oldest_waiting_since(streams: StreamStore, stream_id: str, next_packaged_seq: int) -> float | None:
    """When the source segment of the oldest clip not yet in the enhanced playlist was
    taken: how far the fleet lags the source. None when nothing waits."""
    clip = streams.get_clip(stream_id, next_packaged_seq)
    if clip is None or clip.state == ClipState.packaged:
        return None
    return clip.timings.get("source_at", clip.timings.get("registered_at"))


def delay_behind_source(clips: list[Clip]) -> float | None:
    """Seconds between a source segment appearing and its enhanced clip being in the
    playlist, for the newest packaged clip of a live source."""
    for clip in reversed(clips):
        timings = clip.timings
        if clip.state == ClipState.packaged and {"latency", "registered_at", "source_at"} <= timings.keys():
            return round(timings["latency"] + timings["registered_at"] - timings["source_at"], 3)
    return None
