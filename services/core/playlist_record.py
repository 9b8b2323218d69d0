"""The playlist record: what a stream's published playlist holds, kept in Redis beside the
stream, and the lock that makes one packager at a time its writer.

The only code that reads or writes the record's key and the lock's. The packager renders
the playlist from the record; the record is saved only after the playlist that names its
segments is in S3, so a run cut short is redone with the same keys.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import BaseModel, Field
from redis import Redis
from redis.lock import Lock

from services.core import keys
from services.core.leases import renewed

# The lock is a lease, renewed every third of LOCK_SECONDS while its holder lives, so a
# killed packager blocks the stream for at most LOCK_SECONDS however long S3 retries take.
LOCK_SECONDS = 15
LOCK_WAIT_SECONDS = 120


class Segment(BaseModel):
    """One media segment as the playlist lists it."""

    uri: str = Field(description="Relative to the playlist (§4.1: resolved against its URI).")
    duration: float = Field(gt=0, description="Seconds, from the video timestamps.")
    seq: int = Field(ge=0, description="The clip the segment was cut from.")
    part: int = Field(0, ge=0, description="The clip's part it was remuxed from.")
    discontinuity: bool = False


class PlaylistRecord(BaseModel):
    """What the packager has published for one stream (stored as JSON in Redis)."""

    next_seq: int = 0
    next_part: int = Field(0, description="Parts of clip `next_seq` already in the playlist.")
    offset: float = Field(0.0, description="Seconds of video published so far (the timeline).")
    segments: list[Segment] = Field(
        default_factory=list, description="What the playlist lists: all, or a sliding playlist's window.",
    )
    media_sequence: int = Field(0, ge=0, description="Media sequence number of `segments[0]` (§4.3.3.2).")
    discontinuity_sequence: int = Field(
        0, ge=0, description="EXT-X-DISCONTINUITY tags that left the window (§4.3.3.3).",
    )
    ended: bool = False


def load_playlist_record(redis: Redis, stream_id: str) -> PlaylistRecord:
    """The stream's record, or an empty one before its first segment."""
    raw = redis.get(keys.redis_playlist_record(stream_id))
    return PlaylistRecord.model_validate_json(raw) if raw else PlaylistRecord()


def save_playlist_record(
    redis: Redis, stream_id: str, record: PlaylistRecord, ttl_seconds: int
) -> None:
    redis.set(keys.redis_playlist_record(stream_id), record.model_dump_json(), ex=ttl_seconds)


@contextmanager
def playlist_writer_lock(redis: Redis, stream_id: str) -> Iterator[Lock]:
    """Hold the stream's one-writer lock for the block, waiting up to LOCK_WAIT_SECONDS
    for another writer; its lease is renewed from a thread until the block ends.

    The holder calls `reacquire()` before each playlist write: if the lease was lost and
    another packager took the stream over, that raises instead of overwriting its work.
    """
    # thread_local=False: the lease thread renews the token the caller's thread acquired.
    lock = redis.lock(
        keys.redis_stream_lock(stream_id),
        timeout=LOCK_SECONDS,
        blocking_timeout=LOCK_WAIT_SECONDS,
        thread_local=False,
    )
    with lock, renewed(lock, f"playlist-{stream_id}"):
        yield lock
