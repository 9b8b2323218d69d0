"""RQ job `ingest_video`: one whole video in, the stream's clips queued like captured ones;
or, for a live stream, the start of following it (`live_follow`).

The video comes from the stream's `source_url` (found with yt-dlp, fetched by the guarded
`Fetcher`) or from a browser upload at `keys.source_key`. It is cut at keyframes
(`splitter`), published whole as `original.m3u8` for side-by-side viewing, and every clip
is registered and queued for upscaling; then the stream ends like a stopped capture.
Whatever goes wrong with the video itself (FFmpeg errors included: `bad_media`) leaves the
stream `failed` with `code: message` after one attempt, never stuck; only infrastructure
errors (S3, Redis) are raised for RQ to retry.
"""

import asyncio
import logging
import math
import tempfile
import time
from pathlib import Path

import av

from services.core import keys
from services.core.activity import kept_active
from services.core.clip_transitions import register_clip
from services.core.errors import SharprError, TooLarge, Unprocessable, media_error
from services.core.hls_playlist import render_playlist, target_duration
from services.core.jobqueue import redis_client
from services.core.live_source import LiveSource, start_following
from services.core.playlist_record import Segment
from services.core.retention import StreamDeleted, check_not_deleted, remove_leftovers
from services.core.schemas import Enhancement, StreamState
from services.core.settings import Settings, get_settings
from services.core.storage import (
    PLAYLIST_CACHE_CONTROL,
    SEGMENT_CACHE_CONTROL,
    ObjectStore,
    open_store,
)
from services.core.stream_transitions import end_stream, fail_on_last_attempt, fail_stream
from services.core.streams import StreamStore
from services.core.tiers import allowed_tiers
from services.ingest.extract import find_media
from services.ingest.fetch import Fetcher
from services.ingest.hls_source import download_hls
from services.ingest.live_start import find_live_source, fleet_tier_rates
from services.ingest.splitter import plan_cuts, probe_source, reencode_reason, split
from services.media.probe import VideoProbe
from services.media.reencode import reencode
from services.media.segments import segment_clip

log = logging.getLogger(__name__)

# The original playlist is one whole clip: it reuses the segmenter's naming with seq 0.
ORIGINAL_SEQ = 0


def ingest_video(stream_id: str) -> None:
    """Fetch, cut and queue the video of `stream_id`; fail the stream on a bad video."""
    settings = get_settings()
    streams = StreamStore(redis_client(settings.redis_url), settings.stream_ttl_seconds)
    stream = streams.get_stream(stream_id)
    if stream is None or stream.state != StreamState.live:
        log.info("event=nothing_to_ingest stream=%s state=%s", stream_id, stream and stream.state)
        return
    started = time.time()
    try:
        # A third of the idle time: fetching and re-encoding a long video write nothing.
        with tempfile.TemporaryDirectory(prefix=f"sharpr-ingest-{stream_id}-") as tmp, \
                kept_active(streams, stream_id, every=settings.stream_idle_seconds / 3):
            count = asyncio.run(_ingest(settings, streams, stream_id, stream.source_url, Path(tmp)))
    except SharprError as error:
        fail_stream(streams, stream_id, error.code, error.message)
        return
    except StreamDeleted:
        log.info("event=ingest_stopped stream=%s reason=deleted", stream_id)
        asyncio.run(remove_leftovers(settings, streams, stream_id))
        return
    except av.error.FFmpegError as error:  # the video itself: another attempt cannot help
        bad = media_error("the video cannot be decoded", error)
        log.warning("event=bad_media stream=%s error=%r", stream_id, str(error))
        fail_stream(streams, stream_id, bad.code, bad.message)
        return
    except Exception as error:
        fail_on_last_attempt(streams, stream_id, "ingest_failed", error)
        raise
    if count is None:  # a live source: followed from now on, the stream stays live
        log.info("event=live_source_followed stream=%s", stream_id)
        return
    stream = streams.get_stream(stream_id)
    if stream is not None:
        end_stream(streams, settings, stream)
    log.info("event=video_ingested stream=%s clips=%d seconds=%.3f", stream_id, count, time.time() - started)


async def _ingest(
    settings: Settings, streams: StreamStore, stream_id: str, source_url: str | None, tmp: Path
) -> int | None:
    """How many clips were queued; None when the URL is a live source, now followed."""
    source = tmp / "source"
    async with open_store(settings) as store:
        if source_url is None:
            await _download_upload(store, stream_id, source, settings)
        else:
            live = await asyncio.to_thread(_download_url, source_url, source, settings, streams, stream_id)
            if live is not None:
                if not await asyncio.to_thread(start_following, streams, settings, stream_id, live):
                    log.info("event=live_source_already_followed stream=%s", stream_id)
                return None
        source, info = await asyncio.to_thread(_normalize, source, tmp, settings)
        await _publish_original(store, streams, stream_id, source, tmp, settings)
        clips = await asyncio.to_thread(split, source, tmp, plan_cuts(info, settings.clip_seconds))
        for seq, clip in enumerate(clips):
            key = keys.input_key(stream_id, seq, "mp4")
            await store.put_file(key, clip.path)
            if await asyncio.to_thread(register_clip, streams, settings, stream_id, seq, key) is not None:
                log.info("event=clip_queued stream=%s seq=%d start=%.3f duration=%.3f",
                         stream_id, seq, clip.start, clip.duration)
        return len(clips)


async def _download_upload(store: ObjectStore, stream_id: str, dest: Path, settings: Settings) -> None:
    key = keys.source_key(stream_id)
    head = await store.head(key)
    if head is None:
        raise Unprocessable("nothing was uploaded for this video", code="source_missing")
    if head["size"] > settings.ingest_max_bytes:
        raise TooLarge(f"videos are limited to {settings.ingest_max_bytes} bytes", code="source_too_large")
    await store.download_file(key, dest)


def _download_url(
    url: str, dest: Path, settings: Settings, streams: StreamStore, stream_id: str
) -> LiveSource | None:
    """Download the video at `url` into `dest`; for a live stream, what to follow instead
    (the variant closest to what the fleet keeps up with at the stream's mode and scale)."""
    with Fetcher(settings) as fetcher:
        media = find_media(url, fetcher, settings.ingest_timeout_seconds)
        if media.live:
            stream = streams.get_stream(stream_id)
            enhancement = Enhancement() if stream is None else stream.enhancement
            rates = fleet_tier_rates(streams.redis, settings, enhancement)
            return find_live_source(fetcher, media, rates, allowed_tiers(enhancement))
        if media.duration is not None and media.duration > settings.ingest_max_seconds:
            raise _too_long(settings)
        if media.hls:
            size = download_hls(fetcher, media.url, dest, media.headers)
        else:
            size = fetcher.download(media.url, dest, media.headers)
    log.info("event=source_fetched url=%s bytes=%d", url, size)


def _normalize(source: Path, tmp: Path, settings: Settings) -> tuple[Path, VideoProbe]:
    """`source` itself if it can be cut by copying, else its H.264/AAC re-encode, with
    what probing it found."""
    info = probe_source(source, settings)
    if info.duration > settings.ingest_max_seconds:
        raise _too_long(settings)
    reason = reencode_reason(info, plan_cuts(info, settings.clip_seconds), settings.clip_max_seconds)
    if reason is None:
        return source, info
    log.info("event=source_reencoding reason=%r seconds=%.3f", reason, float(info.duration))
    encoded = tmp / "source.mp4"
    reencode(source, encoded, keyframe_seconds=settings.segment_seconds, preset=settings.encoder_preset)
    return encoded, probe_source(encoded, settings)


async def _publish_original(
    store: ObjectStore, streams: StreamStore, stream_id: str, source: Path, tmp: Path, settings: Settings
) -> None:
    """The source as its own finished playlist, on the same timeline as the enhanced one."""
    folder = tmp / "original"
    folder.mkdir()
    clip = await asyncio.to_thread(
        segment_clip, source, folder, seq=ORIGINAL_SEQ, offset=0.0, segment_seconds=settings.segment_seconds
    )
    await asyncio.gather(*(
        store.put_file(keys.original_segment_key(stream_id, s.name), s.path, cache_control=SEGMENT_CACHE_CONTROL)
        for s in clip.segments
    ))
    segments = [
        Segment(uri=keys.ORIGINAL_SEGMENT_FOLDER + s.name, duration=s.duration, seq=ORIGINAL_SEQ)
        for s in clip.segments
    ]
    # A copied source keeps its own GOP, so its segments may outgrow the configured length.
    target = max(target_duration(settings.segment_seconds), *(math.ceil(s.duration) for s in segments))
    text = render_playlist(segments, target=target, ended=True)
    await store.put_bytes(keys.original_playlist_key(stream_id), text.encode(), cache_control=PLAYLIST_CACHE_CONTROL)
    check_not_deleted(streams, stream_id)
    log.info("event=original_published stream=%s segments=%d seconds=%.3f", stream_id, len(segments), clip.duration)


def _too_long(settings: Settings) -> TooLarge:
    return TooLarge(f"videos are limited to {settings.ingest_max_seconds:.0f} seconds", code="source_too_long")
