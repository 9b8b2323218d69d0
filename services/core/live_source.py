"""The live source a stream follows, kept in Redis beside the stream, and the lease that
lets one follower run at a time take from it.

Following is a chain of short RQ jobs (`services.ingest.live_follow`): each takes what is
new, saves how far it got here, and schedules the next. Whatever process runs the next
one (another ingest worker, the same one after a restart) resumes from `next_msn`. The
only code that reads or writes these keys.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pydantic import BaseModel, Field
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import LockError
from redis.lock import Lock

from services.core import keys
from services.core.jobqueue import enqueue_follow
from services.core.leases import renewed
from services.core.playlist_record import PlaylistRecord, load_playlist_record
from services.core.schemas import ClipState, Tier
from services.core.settings import Settings
from services.core.streams import StreamStore

# A living run renews its lease (`leases.renewed`) however long it lasts (up to the job's
# 300 s); a killed one stops renewing, and this is shorter than RQ takes to find the run
# abandoned (at least 60 s, about 90, without a heartbeat), so the retry of a killed run
# finds the lease free and goes on from `next_msn`.
LEASE_SECONDS = 45
# KEYS: lease, live source; ARGV: the lease's token, the source's JSON, TTL. A fenced write.
SAVE_IF_LEASED = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
return 1
"""


class LiveSource(BaseModel):
    """Where the followed media playlist is and what has been taken from it."""

    playlist_url: str = Field(description="The media playlist followed (the chosen variant).")
    headers: dict[str, str] = Field(default_factory=dict)
    target: int = Field(0, description="The source's EXT-X-TARGETDURATION, from its first load.")
    tier: Tier | None = Field(None, description="The tier chosen with the variant; every clip runs at it.")
    tick: int = Field(0, description="Follower runs so far; names the next run's job.")
    next_msn: int | None = Field(None, description="Media sequence number to take next; None before the first load.")
    next_seq: int = Field(0, description="Clip number the next taken segment becomes.")
    segments_taken: int = 0
    seconds_taken: float = 0.0
    segments_missing: int = Field(0, description="Segments that could not be fetched (404) or slid away first.")
    skipped_seconds: float = Field(0.0, description="Source seconds skipped to catch up with the live edge.")
    delay_seconds: float | None = Field(None, description="`Lag.delay` at the last run.")
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


def save_live_source(redis: Redis, stream_id: str, source: LiveSource, ttl_seconds: int, lease: Lock) -> None:
    """Store how far the run holding `lease` got; `LeaseLost` if it holds it no more, checked
    in the same script as the write, so two runs never both move the source on."""
    saved = redis.eval(SAVE_IF_LEASED, 2, keys.redis_live_lease(stream_id), keys.redis_live_source(stream_id),
                       lease.local.token, source.model_dump_json(), ttl_seconds)
    if not saved:
        raise LeaseLost(stream_id)


def check_lease(lease: Lock, stream_id: str) -> None:
    """`LeaseLost` unless the run still holds `lease`: asked before each public write."""
    if not lease.owned():
        raise LeaseLost(stream_id)


def start_following(streams: StreamStore, settings: Settings, stream_id: str, source: LiveSource) -> bool:
    """Mark the stream as following `source` and queue its first follower run; False if
    the stream already follows one (a stream follows at most one source) or is gone."""
    stream = streams.get_stream(stream_id)
    if stream is None or stream.live_source:
        return False
    if not streams.redis.set(keys.redis_live_source(stream_id), source.model_dump_json(),
                             ex=streams.ttl, nx=True):
        return False
    streams.update_stream(stream_id, lambda current: current.model_copy(update={"live_source": True}))
    enqueue_follow(streams.redis, settings, stream_id, source.tick, delay=0.0)
    return True


class LeaseLost(Exception):
    """The run's lease went to another run (Redis lost it, or this process stalled past
    LEASE_SECONDS): this run must write nothing more."""


@contextmanager
def live_lease(redis: Redis, stream_id: str) -> Iterator[Lock | None]:
    """Hold the stream's follower lease for the block, renewed from a thread however long
    the run takes, if no other run holds it; yields it, or None when it was held. Not
    blocking: a run that finds it held leaves the work to the holder, which schedules the
    next run itself."""
    # thread_local=False: the renewing thread re-arms the token this thread acquired.
    lease = redis.lock(keys.redis_live_lease(stream_id), timeout=LEASE_SECONDS, thread_local=False)
    if not lease.acquire(blocking=False):
        yield None
        return
    try:
        with renewed(lease, f"live-{stream_id}"):
            yield lease
    finally:
        try:
            lease.release()
        except LockError:  # already gone: another run holds it now, or Redis lost it
            pass


@dataclass(frozen=True)
class Lag:
    """How far the enhanced playlist trails the source."""

    waiting_since: float | None  # when the oldest clip not yet in the playlist was taken
    delay: float | None  # source to playlist, in seconds, for the newest clip in it


def measure_lag(streams: StreamStore, stream_id: str) -> Lag:
    """From the two clips on either side of the playlist's edge: the next it waits for, and
    the last it took (if it was enhanced, its timings say when it was published)."""
    next_seq = load_playlist_record(streams.redis, stream_id).next_seq
    waiting = streams.get_clip(stream_id, next_seq)
    newest = streams.get_clip(stream_id, next_seq - 1) if next_seq else None
    waiting_since = None
    if waiting is not None and waiting.state != ClipState.packaged:
        waiting_since = waiting.timings.get("source_at", waiting.timings.get("registered_at"))
    delay = None
    if newest is not None and {"latency", "registered_at", "source_at"} <= newest.timings.keys():
        timings = newest.timings
        delay = round(timings["latency"] + timings["registered_at"] - timings["source_at"], 3)
    return Lag(waiting_since=waiting_since, delay=delay)
