"""The transitions that feed the pipeline and close a stream, shared by every way in.

A clip captured by the extension (registered through the API) and a clip cut from a whole
video (by the ingest job) enter the same way; a stream stopped by its client and a video
whose last clip was queued end the same way. Synchronous, like `StreamStore`.
"""

import logging
import time

from services.core.errors import Unprocessable, without_server_details
from services.core.framesize import fit_within, output_size, within_capture_limit
from services.core.jobqueue import enqueue_package, enqueue_upscale, enqueue_warm
from services.core.schemas import Capture, Clip, ClipState, Enhancement, Size, Stream, StreamState
from services.core.settings import Settings
from services.core.streams import StreamStore

log = logging.getLogger(__name__)


def open_stream(
    streams: StreamStore, settings: Settings, enhancement: Enhancement, capture: Capture | None
) -> tuple[Stream, str, Size | None]:
    """A new live stream, its token and its output size: fixed now when the client
    announces its capture (and the model warmed for that frame size while the first clip
    records), else by the first clip the worker upscales."""
    if capture is None:
        stream, token = streams.create_stream(enhancement)
        return stream, token, None
    check_capture(capture, settings)
    width, height = output_size(capture.width, capture.height, enhancement.scale, settings.clip_max_pixels)
    output = Size(width=width, height=height)
    stream, token = streams.create_stream(enhancement, capture=capture, output=output)
    enqueue_warm(streams.redis, settings, enhancement.mode, enhancement.scale,
                 *fit_within(capture.width, capture.height, settings.clip_max_pixels))
    log.info("stream created stream=%s capture=%dx%d@%g output=%s", stream.id, capture.width,
             capture.height, capture.fps, f"{width}x{height}")
    return stream, token, output


def check_capture(capture: Capture, settings: Settings) -> None:
    """Refuse a capture no clip could be: larger than 3840x2160 or above the fps limit."""
    if not within_capture_limit(capture.width, capture.height):
        raise Unprocessable(
            f"capture {capture.width}x{capture.height} is larger than 3840x2160", code="capture_too_large"
        )
    if capture.fps > settings.clip_max_fps:
        raise Unprocessable(
            f"capture at {capture.fps:g} fps is over the limit of {settings.clip_max_fps:g}",
            code="capture_fps_too_high",
        )


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
