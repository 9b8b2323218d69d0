"""RQ job `follow_live`: one run of following a stream's live HLS source.

Each run holds the stream's lease, reloads the source's media playlist, takes every new
segment at once (segments disappear from a live server; taking never waits for
upscaling), makes each a clip and a segment of `hls/original.m3u8`, saves how far it got
(`LiveSource` in Redis) and schedules the next run a target duration later, or half of it
after an unchanged reload (RFC 8216 §6.3.4). So no run holds an ingest worker for long,
and any worker resumes after a restart from the last media sequence taken.

Following ends when the source ends (`#EXT-X-ENDLIST`), the user stops the stream, the
source stalls (`source_stalled`) or has been followed for `live_max_seconds`
(`live_too_long`); the stream then ends like a stopped capture, keeping what it had.
"""

import asyncio
import logging
import tempfile
import time
from pathlib import Path

import av
from redis.lock import Lock

from services.core import keys
from services.core.clip_transitions import register_clip
from services.core.errors import Conflict, SharprError
from services.core.hls_playlist import render_playlist, slid
from services.core.jobqueue import FOLLOW_TIMEOUT_SECONDS, enqueue_follow, redis_client
from services.core.live_source import (
    LeaseLost,
    LiveSource,
    check_lease,
    live_lease,
    load_live_source,
    measure_lag,
    save_live_source,
)
from services.core.playlist_record import Segment
from services.core.retention import StreamDeleted, check_not_deleted, remove_leftovers
from services.core.schemas import Stream, StreamState
from services.core.settings import Settings, get_settings
from services.core.storage import (
    PLAYLIST_CACHE_CONTROL,
    SEGMENT_CACHE_CONTROL,
    ObjectStore,
    open_store,
)
from services.core.stream_transitions import end_stream, fail_on_last_attempt, fail_stream
from services.core.streams import StreamStore
from services.ingest.fetch import Fetcher
from services.ingest.live_playlist import (
    LiveSegment,
    LiveWindow,
    new_segments,
    read_window,
    reload_delay,
    start_msn,
)
from services.ingest.live_segments import fetch_segment, original_segment_file, segment_clip_file

log = logging.getLogger(__name__)

# Codes of fetch failures a live source recovers from: a segment that 404s is skipped, a
# playlist that fails to load counts towards a stall.
FETCH_FAILED = "fetch_failed"
# Segments one run takes at most: a source adds about one per run (a run per target
# duration), so this leaves room to catch up after a slow run.
SEGMENTS_PER_RUN = 10


def follow_live(stream_id: str) -> None:
    """Take what is new from the stream's live source and schedule the next run."""
    settings = get_settings()
    streams = StreamStore(redis_client(settings.redis_url), settings.stream_ttl_seconds)
    started = time.time()
    with live_lease(streams.redis, stream_id) as lease:
        if lease is None:
            log.info("event=follow_skipped stream=%s reason=lease_held", stream_id)
            return
        try:
            source = asyncio.run(Follower(settings, streams, stream_id, lease).run(started))
        except LeaseLost:  # another run took over; it schedules the next one
            log.warning("event=follow_stopped stream=%s reason=lease_lost", stream_id)
            return
        except StreamDeleted:
            log.info("event=follow_stopped stream=%s reason=deleted", stream_id)
            asyncio.run(remove_leftovers(settings, streams, stream_id))
            return
        except SharprError as error:  # the source itself cannot be followed (encrypted, forbidden)
            fail_stream(streams, stream_id, error.code, error.message)
            return
        except Exception as error:
            fail_on_last_attempt(streams, stream_id, "follow_failed", error)
            raise
    if source is not None:  # the lease is released first, so the next run can take it
        delay = started + reload_delay(source.target, source.last_new_at == started) - time.time()
        enqueue_follow(streams.redis, settings, stream_id, source.tick, delay=delay)


class Follower:
    """One run for one stream, while its lease is held."""

    def __init__(self, settings: Settings, streams: StreamStore, stream_id: str, lease: Lock) -> None:
        self.settings = settings
        self.streams = streams
        self.stream_id = stream_id
        self.lease = lease

    async def run(self, started: float) -> LiveSource | None:
        """The source as saved for the next run, or None when following is over."""
        stream = self.streams.get_stream(self.stream_id)
        source = load_live_source(self.streams.redis, self.stream_id)
        if stream is None or source is None:
            log.info("event=follow_stopped stream=%s reason=gone", self.stream_id)
            return None
        async with open_store(self.settings) as store:
            if stream.state != StreamState.live:  # stopped by its user (or failed)
                await self._close_original(store, source)
                return None
            if started - source.started_at > self.settings.live_max_seconds:
                limit = f"live sources are followed for {self.settings.live_max_seconds:.0f} seconds at most"
                return await self._end(store, source, stream, "live_too_long", limit)
            behind = self._measure_lag(source, started)
            # Done well inside the run's job timeout, so a slow segment is a gap, not a killed run.
            with Fetcher(self.settings, seconds=FOLLOW_TIMEOUT_SECONDS - 60) as fetcher:
                window = await asyncio.to_thread(self._reload, fetcher, source)
                if window is not None and not await self._take(store, fetcher, source, window, started, behind):
                    return await self._close_original(store, source)  # stopped meanwhile
            if window is not None and window.ended and source.next_msn >= window.next_msn:
                return await self._end(store, source, stream, None, "")
            quiet = started - source.last_new_at
            if quiet > self.settings.live_stall_target_durations * source.target:
                return await self._end(
                    store, source, stream, "source_stalled", f"the live source added nothing for {quiet:.0f} seconds"
                )
        source.tick += 1
        self._save(source)
        return source

    def _reload(self, fetcher: Fetcher, source: LiveSource) -> LiveWindow | None:
        """The playlist now; None if it could not be loaded this time (a stall, if it lasts)."""
        try:
            return read_window(fetcher.read_text(source.playlist_url, source.headers), source.playlist_url)
        except SharprError as error:
            if error.code != FETCH_FAILED:
                raise
            log.warning("event=live_reload_failed stream=%s error=%r", self.stream_id, error.message)
            return None

    async def _take(
        self, store: ObjectStore, fetcher: Fetcher, source: LiveSource, window: LiveWindow, started: float,
        behind: bool,
    ) -> bool:
        """Take the window's new segments (skip them, when `behind`); False if the stream
        stopped meanwhile."""
        if source.next_msn is None:
            source.next_msn = start_msn(window)
        taken = new_segments(window, source.next_msn)
        if taken.missed or taken.restarted:
            source.segments_missing += taken.missed
            source.discontinuity = True
            log.warning("event=live_source_jumped stream=%s missed=%d restarted=%s",
                        self.stream_id, taken.missed, taken.restarted)
        if not taken.segments:
            return True
        source.last_new_at = started
        if behind:
            seconds = sum(segment.duration for segment in taken.segments)
            source.skipped_seconds += seconds
            source.next_msn = taken.segments[-1].msn + 1
            source.discontinuity = True
            self._save(source)
            log.warning("event=live_skipped_ahead stream=%s seconds=%.3f", self.stream_id, seconds)
            return True
        # The rest waits for the next run: a playlist listing thousands of tiny segments
        # would otherwise make thousands of clips in one run, ahead of every other stream.
        for segment in taken.segments[:SEGMENTS_PER_RUN]:
            if not await self._take_segment(store, fetcher, source, segment, started):
                return False
        return True

    def _measure_lag(self, source: LiveSource, now: float) -> bool:
        """Whether the fleet lags the source by more than `live_max_delay_seconds`; the
        delay of the newest enhanced clip goes to the status."""
        lag = measure_lag(self.streams, self.stream_id)
        source.delay_seconds = lag.delay if lag.delay is not None else source.delay_seconds
        return lag.waiting_since is not None and now - lag.waiting_since > self.settings.live_max_delay_seconds

    async def _take_segment(
        self, store: ObjectStore, fetcher: Fetcher, source: LiveSource, segment: LiveSegment, seen_at: float
    ) -> bool:
        """Fetch one segment, publish its original, register its clip; False if stopped."""
        seq = source.next_seq
        name = keys.segment_name(seq, 0)
        with tempfile.TemporaryDirectory(prefix=f"sharpr-live-{seq}-") as tmp:
            folder = Path(tmp)
            try:
                path = await asyncio.to_thread(fetch_segment, fetcher, segment, source.headers, folder)
                clip = await asyncio.to_thread(segment_clip_file, path, folder, self.settings)
                duration = await asyncio.to_thread(original_segment_file, clip, folder / name, source.original.offset)
            except (SharprError, av.error.FFmpegError) as error:
                if isinstance(error, SharprError) and error.code not in (FETCH_FAILED, "not_video", "bad_media"):
                    raise
                return self._missing(source, segment, error)
            key = keys.input_key(self.stream_id, seq, "mp4")
            await store.put_file(key, clip)
            await store.put_file(keys.original_segment_key(self.stream_id, name), folder / name,
                                 cache_control=SEGMENT_CACHE_CONTROL)
        jumped = source.discontinuity or segment.discontinuity
        try:
            # None when an earlier attempt of this run registered it and died before saving:
            # the clip stands, and what follows (its original segment, the save) is redone.
            await asyncio.to_thread(register_clip, self.streams, self.settings, self.stream_id, seq, key,
                                    discontinuity=jumped, source_at=seen_at, tier=source.tier)
        except Conflict:
            return False
        original = Segment(uri=keys.ORIGINAL_SEGMENT_FOLDER + name, duration=duration, seq=seq, discontinuity=jumped)
        source.original = source.original.model_copy(update={
            "segments": [*source.original.segments, original], "offset": source.original.offset + duration,
        })
        await self._write_original(store, source)
        source.next_msn, source.next_seq, source.discontinuity = segment.msn + 1, seq + 1, False
        source.segments_taken += 1
        source.seconds_taken += duration
        self._save(source)
        log.info("event=live_segment_taken stream=%s seq=%d msn=%d duration=%.3f",
                 self.stream_id, seq, segment.msn, duration)
        return True

    def _missing(self, source: LiveSource, segment: LiveSegment, error: Exception) -> bool:
        """A segment that cannot be had is a gap: noted in status, the next clip marked."""
        source.segments_missing += 1
        source.next_msn = segment.msn + 1
        source.discontinuity = True
        self._save(source)
        log.warning("event=live_segment_missing stream=%s msn=%d error=%r", self.stream_id, segment.msn, str(error))
        return True

    async def _write_original(self, store: ObjectStore, source: LiveSource) -> None:
        """The original playlist, slid to the live window like the enhanced one; only while
        this run holds the lease, so two runs never both append to it."""
        check_lease(self.lease, self.stream_id)
        target = source.target + 1  # remuxed durations may round a frame over the source's
        record = slid(source.original, keep_seconds=self.settings.live_window_seconds, target=target)
        source.original = record
        text = render_playlist(record.segments, target=target, ended=record.ended, media_sequence=record.media_sequence,
                               discontinuity_sequence=record.discontinuity_sequence, sliding=True)
        await store.put_bytes(keys.original_playlist_key(self.stream_id), text.encode(),
                              cache_control=PLAYLIST_CACHE_CONTROL)
        check_not_deleted(self.streams, self.stream_id)

    async def _close_original(self, store: ObjectStore, source: LiveSource) -> None:
        if not source.original.ended:
            source.original = source.original.model_copy(update={"ended": True})
            await self._write_original(store, source)
            self._save(source)
        log.info("event=follow_stopped stream=%s segments=%d seconds=%.3f skipped=%.3f missing=%d",
                 self.stream_id, source.segments_taken, source.seconds_taken, source.skipped_seconds,
                 source.segments_missing)

    async def _end(self, store: ObjectStore, source: LiveSource, stream: Stream, code: str | None, message: str) -> None:
        """Stop following and end the stream (with `code` when it ended early)."""
        await self._close_original(store, source)
        end_stream(self.streams, self.settings, stream, code=code, message=message)

    def _save(self, source: LiveSource) -> None:
        save_live_source(self.streams.redis, self.stream_id, source, self.settings.stream_ttl_seconds, self.lease)
