"""The transitions that feed the pipeline and close a stream, shared by every way in.

A clip captured by the extension (registered through the API) and a clip cut from a whole
video (by the ingest job) enter the same way; a stream stopped by its client and a video
whose last clip was queued end the same way. Synchronous, like `StreamStore`.
"""

import logging
import time

from services.core.errors import without_server_details
from services.core.jobqueue import enqueue_package, enqueue_upscale
from services.core.schemas import Clip, ClipState, Stream, StreamState
from services.core.settings import Settings
from services.core.streams import StreamStore

log = logging.getLogger(__name__)


def queue_clip(streams: StreamStore, settings: Settings, stream_id: str, seq: int, key: str) -> Clip | None:
    """Register clip `seq` stored at `key` and queue its upscale; None if `seq` exists.

    Raises `Conflict` (`stream_not_live`) once the stream is stopped, checked atomically
    with the registration, so no clip lands after the playlist's ENDLIST. A repeated
    registration of a clip still `queued` queues its upscale again (RQ keeps one job per
    clip id): a process that died between the two steps left it registered but unqueued,
    and its client, told nothing, sends it again.
    """
    clip = Clip(stream_id=stream_id, seq=seq, key=key, state=ClipState.queued,
                timings={"registered_at": time.time()})
    if not streams.add_clip(clip):
        existing = streams.get_clip(stream_id, seq)
        if existing is not None and existing.state == ClipState.queued:
            enqueue_upscale(streams.redis, settings, stream_id, seq)
        return None
    enqueue_upscale(streams.redis, settings, stream_id, seq)
    return clip


def end_stream(streams: StreamStore, settings: Settings, stream: Stream) -> Stream:
    """No more clips: the packager closes the playlist once every clip is packaged."""
    if stream.state != StreamState.live:
        return stream
    ending = stream.model_copy(update={"state": StreamState.ending})
    streams.save_stream(ending)
    enqueue_package(streams.redis, settings, stream.id, None)
    log.info("stream ending stream=%s", stream.id)
    return ending


def fail_stream(streams: StreamStore, stream_id: str, code: str, message: str) -> None:
    """Mark the stream failed for good, with `code: message` for its client to show (no
    server path or host: those stay in the log line)."""
    stream = streams.get_stream(stream_id)
    if stream is None:
        return
    error = f"{code}: {without_server_details(message)}"
    streams.save_stream(stream.model_copy(update={"state": StreamState.failed, "error": error}))
    log.warning("stream failed stream=%s code=%s message=%s", stream_id, code, message)
