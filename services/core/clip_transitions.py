"""A clip's states, one function per step: registered (`queued`, its upscale queued), then
`upscaling` with its progress, `encoded`, `packaged`, or `failed`.

A clip captured by the extension (through the API) and a clip cut from a whole video (by
the ingest job) are registered the same way; the worker and the packager move it on. No
service writes a clip's state itself. Synchronous, like `StreamStore`.
"""

import time

from services.core.errors import Unprocessable
from services.core.jobqueue import enqueue_upscale
from services.core.schemas import Clip, ClipState, Tier
from services.core.settings import Settings
from services.core.streams import StreamStore


def check_clip_limit(seq: int, settings: Settings) -> None:
    """Clips are numbered from 0, so `seq` names one of the first `max_clips_per_stream`."""
    if seq >= settings.max_clips_per_stream:
        raise Unprocessable(
            f"a stream holds at most {settings.max_clips_per_stream} clips", code="too_many_clips"
        )


def register_clip(
    streams: StreamStore, settings: Settings, stream_id: str, seq: int, key: str,
    *, discontinuity: bool = False, source_at: float | None = None, tier: Tier | None = None,
    etag: str | None = None,
) -> Clip | None:
    """Register clip `seq` stored at `key` and queue its upscale; None if `seq` exists.
    A clip cut from a live source says when its segment appeared there (`source_at`, for
    the delay behind the source) and whether the source jumped before it. `tier` is the
    client's choice for this clip, used when the stream's tier is auto. `etag` pins the
    uploaded object checked at registration: a later upload over it is not read.

    Raises `Conflict` (`stream_not_live`) once the stream is stopped, checked atomically
    with the registration, so no clip lands after the playlist's ENDLIST, and
    `Unprocessable` (`too_many_clips`) past the clip limit, whoever registers: the API
    checked it, but a live follower or an ingest did not. A repeated
    registration of a clip still `queued` queues its upscale again (RQ keeps one job per
    clip id): a process that died between the two steps left it registered but unqueued,
    and its client, told nothing, sends it again.
    """
    check_clip_limit(seq, settings)
    clip = Clip(
        stream_id=stream_id,
        seq=seq,
        key=key,
        etag=etag,
        state=ClipState.queued,
        discontinuity=discontinuity,
        tier=tier,
        timings={"registered_at": time.time(), **({} if source_at is None else {"source_at": source_at})},
    )
    if not streams.insert_clip(clip):
        existing = streams.get_clip(stream_id, seq)
        if existing is not None and existing.state == ClipState.queued:
            enqueue_upscale(streams.redis, settings, stream_id, seq)
        return None
    enqueue_upscale(streams.redis, settings, stream_id, seq)
    return clip


def mark_upscaling(streams: StreamStore, stream_id: str, seq: int, *, clear_error: bool) -> None:
    """A worker took the clip. A fresh upscale forgets an earlier attempt's error; the
    fallback to the plain resize keeps it, as the reason the clip is degraded."""
    errors = {"error_code": None, "error": None} if clear_error else {}
    streams.update_clip(stream_id, seq, state=ClipState.upscaling, **errors)


def record_progress(
    streams: StreamStore,
    stream_id: str,
    seq: int,
    *,
    frames_done: int,
    frames_total: int,
    parts_done: int,
) -> None:
    """How far the upscaling clip got, for its client's progress bar."""
    streams.update_clip(
        stream_id, seq, frames_done=frames_done, frames_total=frames_total, parts_done=parts_done
    )


def mark_encoded(
    streams: StreamStore,
    clip: Clip,
    *,
    duration: float,
    width: int,
    height: int,
    frames: int,
    frames_skipped: int,
    parts: int,
    timings: dict[str, float],
    degraded: bool,
    tier: Tier | None,
) -> None:
    """Every frame of `clip` (as registered) is encoded and its `parts` published, by the
    network of `tier` (None: by the plain resize); its timings gain the worker's stages and
    the time it was done."""
    streams.update_clip(
        clip.stream_id,
        clip.seq,
        state=ClipState.encoded,
        duration=duration,
        width=width,
        height=height,
        frames_done=frames,
        frames_total=frames,
        frames_skipped=frames_skipped,
        parts_done=parts,
        tier=tier,
        timings={**clip.timings, **timings, "encoded_at": time.time()},
        degraded=degraded,
    )


def mark_packaged(
    streams: StreamStore, stream_id: str, seq: int, *, package: float, published: float
) -> dict[str, float]:
    """Record the clip's packaging time and its latency from registration to playlist;
    its timings, or none when the clip expired with its stream."""
    clip = streams.get_clip(stream_id, seq)
    if clip is None:
        return {}
    timings = {**clip.timings, "package": package}
    if "registered_at" in timings:
        timings["latency"] = published - timings["registered_at"]
    streams.update_clip(stream_id, seq, state=ClipState.packaged, timings=timings)
    return timings


def record_clip_error(
    streams: StreamStore, stream_id: str, seq: int, code: str, message: str
) -> None:
    """Why the clip's upscale failed, kept while it goes on without the model."""
    if streams.get_clip(stream_id, seq) is not None:
        streams.update_clip(stream_id, seq, error_code=code, error=message)


def fail_clip(streams: StreamStore, stream_id: str, seq: int, code: str, message: str) -> None:
    """Failed for good: the packager goes past it, keeping the parts it published."""
    if streams.get_clip(stream_id, seq) is not None:
        streams.update_clip(stream_id, seq, state=ClipState.failed, error_code=code, error=message)
