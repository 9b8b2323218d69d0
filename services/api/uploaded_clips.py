"""A clip the client uploaded, checked and then registered: where it lies, that it
exists, its size and magic.

S3 already refused bodies over the size limit at upload; these checks catch clients that
upload elsewhere, upload nothing, or upload something that is not a video. Registering
itself is core's (`clip_transitions.register_clip`), the same for every way in.
"""

import logging

from starlette.concurrency import run_in_threadpool

from services.core import keys
from services.core.clip_transitions import check_clip_limit, register_clip
from services.core.errors import BadRequest, Conflict, TooLarge, Unprocessable
from services.core.schemas import Clip, Stream, StreamState, Tier
from services.core.settings import Settings
from services.core.storage import ObjectStore
from services.core.streams import StreamStore
from services.core.upload_ledger import settle_upload

log = logging.getLogger(__name__)

EBML_MAGIC = b"\x1a\x45\xdf\xa3"


def looks_like_video(head: bytes, ext: str) -> bool:
    """WebM starts with the EBML magic; MP4 has an `ftyp` box at byte 4."""
    if ext == "webm":
        return head.startswith(EBML_MAGIC)
    return head[4:8] == b"ftyp"


def check_registrable(stream: Stream, seq: int, key: str, settings: Settings) -> str:
    """The clip's container extension, if `key` may be registered as clip `seq`."""
    if stream.state != StreamState.live:
        raise Conflict(f"stream is {stream.state}, it takes no more clips", code="stream_not_live")
    check_clip_limit(seq, settings)
    parsed = keys.parse_input_key(stream.id, key)
    if parsed is None:
        raise BadRequest(
            f"key must be {keys.input_key(stream.id, seq, 'webm')} (or .mp4)", code="key_outside_stream"
        )
    if parsed[0] != seq:
        raise BadRequest(f"key names clip {parsed[0]}, not {seq}", code="seq_mismatch")
    return parsed[1]


async def register_uploaded_clip(
    stream: Stream, seq: int, key: str, settings: Settings, streams: StreamStore, store: ObjectStore,
    *, tier: Tier | None = None,
) -> Clip:
    """Check the upload at `key`, register it as clip `seq` and charge its real size
    against the stream's budget; 409 `clip_exists` if `seq` is registered already."""
    ext = check_registrable(stream, seq, key, settings)
    peeked = await store.peek(key, 12)
    if peeked is None:
        raise BadRequest(f"nothing was uploaded at {key}", code="clip_missing")
    size, magic, etag = peeked
    if size == 0:
        raise Unprocessable("the uploaded clip is empty", code="clip_empty")
    if size > settings.clip_max_bytes:
        raise TooLarge(f"clips are limited to {settings.clip_max_bytes} bytes", code="clip_too_large")
    if not looks_like_video(magic, ext):
        raise Unprocessable(f"the upload is not a {ext.upper()} video", code="not_video")

    clip = await run_in_threadpool(register_clip, streams, settings, stream.id, seq, key, tier=tier, etag=etag)
    if clip is None:
        raise Conflict(f"clip {seq} is already registered", code="clip_exists")
    await run_in_threadpool(settle_upload, streams, stream.id, seq, size)
    log.info("event=clip_registered stream=%s seq=%d bytes=%d tier=%s", stream.id, seq, size, tier)
    return clip
