"""RQ job that brings a stream's HLS playlist up to date with its clips' published parts.

`package_clip` is enqueued after every part the worker publishes, after every clip it
finishes (or fails) and once after the stream is stopped. Whatever its trigger, it
publishes every part the playlist rules allow, in order, holding the stream's playlist
lock, so concurrent or repeated runs are harmless: segment keys are deterministic and
nothing is added to the playlist record before the playlist names it. Each part is one
segment, appended at once. The record, the lock and the clip and stream transitions are
core's (`playlist_record`, `clip_transitions`, `stream_transitions`).

A stream that follows a live source slides: after each appended segment the oldest leave
the playlist past `live_window_seconds`, and the first segment after the source jumped
carries EXT-X-DISCONTINUITY. Any other stream's playlist is an EVENT that only grows.
"""

import asyncio
import logging
import tempfile
import time
from pathlib import Path

import av
from redis.lock import Lock
from rq import get_current_job

from services.core import keys
from services.core.clip_transitions import fail_clip, mark_packaged
from services.core.errors import media_error
from services.core.hls_playlist import (
    SegmentTooLong,
    check_segments,
    render_playlist,
    slid,
    target_duration,
)
from services.core.jobqueue import redis_client
from services.core.playlist_record import (
    PlaylistRecord,
    Segment,
    load_playlist_record,
    playlist_writer_lock,
    save_playlist_record,
)
from services.core.retention import StreamDeleted, check_not_deleted, remove_leftovers
from services.core.schemas import StreamState
from services.core.settings import Settings, get_settings
from services.core.storage import (
    PLAYLIST_CACHE_CONTROL,
    SEGMENT_CACHE_CONTROL,
    ObjectStore,
    open_store,
)
from services.core.stream_transitions import mark_stream_ended
from services.core.streams import StreamStore
from services.media.segments import remux_part
from services.packager.download import write_download
from services.packager.playlist import Action, Step, plan_packaging

log = logging.getLogger(__name__)


def package_clip(stream_id: str, seq: int | None) -> None:
    """Publish every clip of `stream_id` that can be published now (`seq` is the trigger)."""
    settings = get_settings()
    redis = redis_client(settings.redis_url)
    # Waiting, not giving up, when another packager holds the lock: it may have read the
    # clip states before this trigger's clip was encoded, so this run must follow it.
    with playlist_writer_lock(redis, stream_id) as lock:
        streams = StreamStore(redis, settings.stream_ttl_seconds)
        try:
            asyncio.run(StreamPackager(settings, streams, lock, stream_id).publish(trigger=seq))
        except StreamDeleted:
            log.info("event=packaging_stopped stream=%s reason=deleted", stream_id)
            asyncio.run(remove_leftovers(settings, streams, stream_id))


def _record_progress(record: PlaylistRecord) -> None:
    """Show how far the playlist got in the RQ job's meta (dashboards, `rq info`)."""
    job = get_current_job()
    if job is not None:
        job.meta.update(next_seq=record.next_seq, segments=len(record.segments))
        job.save_meta()


class StreamPackager:
    """One run of publishing for one stream, while its lock is held."""

    def __init__(self, settings: Settings, streams: StreamStore, lock: Lock, stream_id: str) -> None:
        self.settings = settings
        self.streams = streams
        self.lock = lock
        self.stream_id = stream_id
        self.target = target_duration(settings.segment_seconds)
        self.sliding = False  # the stream follows a live source (set by `publish`)
        self.jumps: set[int] = set()  # clips the source jumped before

    async def publish(self, trigger: int | None) -> None:
        stream = self.streams.get_stream(self.stream_id)
        record = load_playlist_record(self.streams.redis, self.stream_id)
        if stream is None or record.ended:
            log.info("event=nothing_to_package stream=%s trigger=%s", self.stream_id, trigger)
            return
        listed = self.streams.get_clips(self.stream_id)
        clips = {clip.seq: clip.state for clip in listed}
        self.sliding = stream.live_source
        self.jumps = {clip.seq for clip in listed if clip.discontinuity}
        parts = self.streams.part_counts(self.stream_id, [seq for seq in clips if seq >= record.next_seq])
        # A failed stream takes no more clips either: close its playlist so players stop.
        ending = stream.state in (StreamState.ending, StreamState.ended, StreamState.failed)
        plan = plan_packaging(record.next_seq, clips, ending=ending, parts=parts)
        log.info(
            "event=packaging stream=%s trigger=%s next_seq=%d steps=%d complete=%s",
            self.stream_id, trigger, record.next_seq, len(plan.steps), plan.complete,
        )
        if not plan.steps and not plan.complete:
            return  # waiting for the clip at next_seq
        async with open_store(self.settings) as store:
            for step in plan.steps:
                started = time.time()
                record = await self._publish_parts(store, record, step)
                # Still on this clip unless it was given up on (bad segments); a partial
                # clip stays at next_seq for the parts to come.
                if record.next_seq == step.seq and step.action == Action.package:
                    record = self._finish_clip(record, step.seq, started)
                elif record.next_seq == step.seq and step.action == Action.skip:
                    log.info("event=clip_skipped stream=%s seq=%d state=%s parts=%d",
                             self.stream_id, step.seq, clips.get(step.seq, "missing"), step.parts)
                    record = record.model_copy(update={"next_seq": step.seq + 1, "next_part": 0})
                    self._save(record)
                _record_progress(record)
            if plan.complete:
                await self._end(store, record)

    async def _publish_parts(self, store: ObjectStore, record: PlaylistRecord, step: Step) -> PlaylistRecord:
        """Append the clip's parts the playlist lacks, one segment each, in order."""
        for n in range(record.next_part if record.next_seq == step.seq else 0, step.parts):
            record = await self._publish_part(store, record, step.seq, n)
            if record.next_seq != step.seq:
                break  # the clip was given up on
        return record

    async def _publish_part(self, store: ObjectStore, record: PlaylistRecord, seq: int, n: int) -> PlaylistRecord:
        """Remux one part onto the stream's timeline, upload it, then the playlist, then
        record it."""
        name = keys.segment_name(seq, n)
        with tempfile.TemporaryDirectory(prefix=f"sharpr-pkg-{seq}-{n}-") as tmp:
            source, segment = Path(tmp) / "part.mp4", Path(tmp) / name
            await store.download_file(keys.output_part_key(self.stream_id, seq, n), source)
            try:
                duration = await asyncio.to_thread(remux_part, source, segment, offset=record.offset)
            except av.error.FFmpegError as error:  # the part itself: every retry would fail alike
                return self._give_up(record, seq, media_error("a part could not be cut into a segment", error).message)
            new = Segment(uri=name, duration=duration, seq=seq, part=n,
                          discontinuity=self._jumped(record, seq))
            try:
                check_segments([new], self.target)
            except SegmentTooLong as error:
                return self._give_up(record, seq, str(error))
            await store.put_file(keys.segment_key(self.stream_id, seq, n), segment,
                                 cache_control=SEGMENT_CACHE_CONTROL)
        record = record.model_copy(update={
            "next_seq": seq,
            "next_part": n + 1,
            "offset": record.offset + duration,
            "segments": [*record.segments, new],
        })
        if self.sliding:
            record = slid(record, keep_seconds=self.settings.live_window_seconds, target=self.target)
        await self._write_playlist(store, record)
        self._save(record)
        log.info("event=part_packaged stream=%s seq=%d part=%d duration=%.3f offset=%.3f",
                 self.stream_id, seq, n, duration, record.offset - duration)
        return record

    def _jumped(self, record: PlaylistRecord, seq: int) -> bool:
        """Whether the segment now appended from clip `seq` follows a jump in the source: the
        first one listed from a flagged clip, or after a flagged clip that was skipped."""
        last = record.segments[-1].seq if record.segments else -1  # a window keeps its last
        return self.sliding and any(s in self.jumps for s in range(last + 1, seq + 1))

    def _finish_clip(self, record: PlaylistRecord, seq: int, started: float) -> PlaylistRecord:
        """Every part of an encoded clip is in the playlist: go on to the next clip."""
        record = record.model_copy(update={"next_seq": seq + 1, "next_part": 0})
        self._save(record)
        published = time.time()
        timings = mark_packaged(self.streams, self.stream_id, seq, package=published - started, published=published)
        log.info(
            "event=clip_packaged stream=%s seq=%d segments=%d offset=%.3f latency_s=%s",
            self.stream_id, seq, sum(s.seq == seq for s in record.segments), record.offset,
            round(timings["latency"], 3) if "latency" in timings else None,
        )
        return record

    def _give_up(self, record: PlaylistRecord, seq: int, error: str) -> PlaylistRecord:
        """The clip's next part cannot be published (it would break the fixed target
        duration for every player, or it cannot be remuxed), so the stream goes on without
        the rest of the clip rather than stalling behind it; its earlier parts stay."""
        log.error("event=clip_not_packaged stream=%s seq=%d error=%r", self.stream_id, seq, error)
        fail_clip(self.streams, self.stream_id, seq, "bad_segments", error)
        record = record.model_copy(update={"next_seq": seq + 1, "next_part": 0})
        self._save(record)
        return record

    async def _end(self, store: ObjectStore, record: PlaylistRecord) -> None:
        """Close the playlist (ENDLIST), write the download, mark the stream ended.

        The download holds what the closed playlist lists: all of it, or for a stream that
        followed a live source the last window (older parts are no longer listed).

        The packager's own `ended` is recorded last, so a packager killed anywhere in
        between leaves work that the next run redoes, never a stream stuck in `ending`.
        """
        record = record.model_copy(update={"ended": True})
        await self._write_playlist(store, record)
        await write_download(store, self.stream_id, [(s.seq, s.part) for s in record.segments])
        check_not_deleted(self.streams, self.stream_id)
        mark_stream_ended(self.streams, self.stream_id)
        self._save(record)
        log.info("event=stream_ended stream=%s segments=%d seconds=%.3f",
                 self.stream_id, len(record.segments), record.offset)

    async def _write_playlist(self, store: ObjectStore, record: PlaylistRecord) -> None:
        """One whole-object put: readers see the old playlist or the new one, never half.

        The lock is re-armed first; if it expired and another packager took the stream
        over, this raises instead of overwriting that packager's playlist. A stream deleted
        meanwhile stops the run before the put, or after it (`StreamDeleted`).
        """
        self.lock.reacquire()
        check_not_deleted(self.streams, self.stream_id)
        text = render_playlist(
            record.segments, target=self.target, ended=record.ended, sliding=self.sliding,
            media_sequence=record.media_sequence, discontinuity_sequence=record.discontinuity_sequence,
        )
        await store.put_bytes(keys.playlist_key(self.stream_id), text.encode(),
                              cache_control=PLAYLIST_CACHE_CONTROL)
        check_not_deleted(self.streams, self.stream_id)

    def _save(self, record: PlaylistRecord) -> None:
        save_playlist_record(self.streams.redis, self.stream_id, record, self.settings.stream_ttl_seconds)
        check_not_deleted(self.streams, self.stream_id)  # the record written back after a delete goes again
