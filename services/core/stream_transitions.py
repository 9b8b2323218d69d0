"""A stream's states, one function per step: opened `live`, then `ending` (no more
clips), `ended` (its playlist closed) or `failed`.

Shared by every way in and out: a stream stopped by its client, one left idle and a video
whose last clip was registered end the same way; the packager marks it ended. No service
writes a stream's state itself. Synchronous, like `StreamStore`.
"""

import logging

from rq import get_current_job

from services.core.errors import Unprocessable, without_server_details
from services.core.framesize import fit_within, output_size, within_capture_limit
from services.core.jobqueue import enqueue_package, enqueue_warm
from services.core.schemas import Capture, Enhancement, Size, Stream, StreamState
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
                 *fit_within(capture.width, capture.height, settings.clip_max_pixels), enhancement.tier)
    log.info("event=stream_created stream=%s capture=%dx%d@%g output=%s", stream.id, capture.width,
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


def end_stream(
    streams: StreamStore, settings: Settings, stream: Stream, *, code: str | None = None, message: str = ""
) -> Stream:
    """No more clips: the packager closes the playlist once every clip is packaged. With
    `code`, the stream ended early for that reason (a live source stalled), kept as its
    `error` while it still ends, not fails: what it had stays playable."""
    error = None if code is None else f"{code}: {without_server_details(message)}"
    changed = []

    def end(current: Stream) -> Stream | None:
        if current.state != StreamState.live:
            return None
        changed.append(True)
        return current.model_copy(update={"state": StreamState.ending, "error": error})

    # `stream` as the caller read it may be stale: the change is made to the stored one.
    after = streams.update_stream(stream.id, end) or stream
    if changed:
        enqueue_package(streams.redis, settings, stream.id, None)
        log.info("event=stream_ending stream=%s code=%s", stream.id, code)
    return after


def mark_stream_ended(streams: StreamStore, stream_id: str) -> None:
    """`ending` -> `ended`, once the packager has closed the playlist; a stream that failed
    meanwhile stays failed."""
    streams.update_stream(stream_id, lambda stream: (
        stream.model_copy(update={"state": StreamState.ended}) if stream.state == StreamState.ending else None
    ))


def fail_stream(streams: StreamStore, stream_id: str, code: str, message: str) -> None:
    """Mark the stream failed for good, with `code: message` for its client to show (no
    server path or host: those stay in the log line)."""
    error = f"{code}: {without_server_details(message)}"
    if streams.update_stream(stream_id, lambda stream: stream.model_copy(
        update={"state": StreamState.failed, "error": error}
    )) is not None:
        log.warning("event=stream_failed stream=%s code=%s message=%r", stream_id, code, message)


def fail_on_last_attempt(streams: StreamStore, stream_id: str, code: str, error: Exception) -> None:
    """Fail the stream if the running job has no retry left: an error that outlived RQ's
    retries (S3 or Redis away too long) must not leave the stream live for ever."""
    job = get_current_job()
    if job is None or not job.retries_left:
        fail_stream(streams, stream_id, code, f"{type(error).__name__}: {error}")
