"""RQ job that brings a stream's HLS playlist up to date with its clips' published parts.

`package_clip` is enqueued after every part the worker publishes, after every clip it
finishes (or fails) and once after the stream is stopped. Whatever its trigger, it
publishes every part the playlist rules allow, in order, under a per-stream Redis lock,
so concurrent or repeated runs are harmless: segment keys are deterministic and nothing
is recorded before the playlist names it. Each part is one segment, appended at once.
"""

import asyncio
import logging
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from redis import Redis
from redis.exceptions import LockError, RedisError
from redis.lock import Lock
from rq import get_current_job

from services.core import keys
from services.core.jobqueue import redis_client
from services.core.schemas import ClipState, StreamState
from services.core.settings import Settings, get_settings
from services.core.storage import (
    PLAYLIST_CACHE_CONTROL,
    SEGMENT_CACHE_CONTROL,
    ObjectStore,
    open_store,
)
from services.core.streams import StreamStore
from services.packager.download import write_download
from services.packager.playlist import (
    Action,
    PlaylistState,
    Segment,
    SegmentTooLong,
    Step,
    check_segments,
    plan_packaging,
    render_playlist,
    target_duration,
)
from services.packager.segmenter import remux_part

log = logging.getLogger(__name__)

# The lock is a lease, renewed every third of LOCK_SECONDS while its holder lives, so a
# killed packager blocks the stream for at most LOCK_SECONDS however long S3 retries take.
LOCK_SECONDS = 15
LOCK_WAIT_SECONDS = 120


def package_clip(stream_id: str, seq: int | None) -> None:
    """Publish every clip of `stream_id` that can be published now (`seq` is the trigger)."""
    settings = get_settings()
    redis = redis_client(settings.redis_url)
    # thread_local=False: the lease thread renews the token the job's thread acquired.
    lock = redis.lock(
        keys.redis_stream_lock(stream_id), timeout=LOCK_SECONDS, blocking_timeout=LOCK_WAIT_SECONDS,
        thread_local=False,
    )
    # Waiting, not giving up, when another packager holds the lock: it may have read the
    # clip states before this trigger's clip was encoded, so this run must follow it.
    with lock, _lease_renewed(lock, stream_id):
        asyncio.run(StreamPackager(settings, redis, lock, stream_id).publish(trigger=seq))


@contextmanager
def _lease_renewed(lock: Lock, stream_id: str) -> Iterator[None]:
    """Re-arm the stream lock from a thread until the block ends."""
    done = threading.Event()

    def renew() -> None:
        while not done.wait(LOCK_SECONDS / 3):
            try:
                lock.reacquire()
            except LockError:  # lost (Redis restarted empty): _write_playlist will refuse
                log.warning("stream lock lost stream=%s", stream_id)
                return
            except RedisError:  # Redis away for a moment: try again next time
                log.warning("stream lock not renewed stream=%s", stream_id, exc_info=True)

    thread = threading.Thread(target=renew, name="stream-lock-lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _record_progress(state: PlaylistState) -> None:
    """Show how far the playlist got in the RQ job's meta (dashboards, `rq info`)."""
    job = get_current_job()
    if job is not None:
        job.meta.update(next_seq=state.next_seq, segments=len(state.segments))
        job.save_meta()


def load_state(redis: Redis, stream_id: str) -> PlaylistState:
    raw = redis.get(keys.redis_hls(stream_id))
    return PlaylistState.model_validate_json(raw) if raw else PlaylistState()


class StreamPackager:
    """One run of publishing for one stream, while its lock is held."""

    def __init__(self, settings: Settings, redis: Redis, lock: Lock, stream_id: str) -> None:
        self.settings = settings
        self.redis = redis
        self.lock = lock
        self.stream_id = stream_id
        self.streams = StreamStore(redis, settings.stream_ttl_seconds)
        self.target = target_duration(settings.segment_seconds)

    async def publish(self, trigger: int | None) -> None:
        stream = self.streams.get_stream(self.stream_id)
        state = load_state(self.redis, self.stream_id)
        if stream is None or state.ended:
            log.info("nothing to package stream=%s trigger=%s", self.stream_id, trigger)
            return
        clips = {clip.seq: clip.state for clip in self.streams.get_clips(self.stream_id)}
        parts = self.streams.part_counts(self.stream_id, [seq for seq in clips if seq >= state.next_seq])
        # A failed stream takes no more clips either: close its playlist so players stop.
        ending = stream.state in (StreamState.ending, StreamState.ended, StreamState.failed)
        plan = plan_packaging(state.next_seq, clips, ending=ending, parts=parts)
        log.info(
            "packaging stream=%s trigger=%s next_seq=%d steps=%d complete=%s",
            self.stream_id, trigger, state.next_seq, len(plan.steps), plan.complete,
        )
        if not plan.steps and not plan.complete:
            return  # waiting for the clip at next_seq
        async with open_store(self.settings) as store:
            for step in plan.steps:
                started = time.time()
                state = await self._publish_parts(store, state, step)
                # Still on this clip unless it was given up on (bad segments); a partial
                # clip stays at next_seq for the parts to come.
                if state.next_seq == step.seq and step.action == Action.package:
                    state = self._finish_clip(state, step.seq, started)
                elif state.next_seq == step.seq and step.action == Action.skip:
                    log.info("clip skipped stream=%s seq=%d state=%s parts=%d",
                             self.stream_id, step.seq, clips.get(step.seq, "missing"), step.parts)
                    state = state.model_copy(update={"next_seq": step.seq + 1, "next_part": 0})
                    self._save(state)
                _record_progress(state)
            if plan.complete:
                await self._end(store, state)

    async def _publish_parts(self, store: ObjectStore, state: PlaylistState, step: Step) -> PlaylistState:
        """Append the clip's parts the playlist lacks, one segment each, in order."""
        for n in range(state.next_part if state.next_seq == step.seq else 0, step.parts):
            state = await self._publish_part(store, state, step.seq, n)
            if state.next_seq != step.seq:
                break  # the clip was given up on
        return state

    async def _publish_part(self, store: ObjectStore, state: PlaylistState, seq: int, n: int) -> PlaylistState:
        """Remux one part onto the stream's timeline, upload it, then the playlist, then
        record it."""
        name = keys.segment_name(seq, n)
        with tempfile.TemporaryDirectory(prefix=f"sharpr-pkg-{seq}-{n}-") as tmp:
            source, segment = Path(tmp) / "part.mp4", Path(tmp) / name
            await store.download_file(keys.output_part_key(self.stream_id, seq, n), source)
            duration = await asyncio.to_thread(remux_part, source, segment, offset=state.offset)
            new = Segment(uri=name, duration=duration, seq=seq, part=n)
            try:
                check_segments([new], self.target)
            except SegmentTooLong as error:
                return self._give_up(state, seq, error)
            await store.put_file(keys.segment_key(self.stream_id, seq, n), segment,
                                 cache_control=SEGMENT_CACHE_CONTROL)
        state = state.model_copy(update={
            "next_seq": seq,
            "next_part": n + 1,
            "offset": state.offset + duration,
            "segments": [*state.segments, new],
        })
        await self._write_playlist(store, state)
        self._save(state)
        log.info("part packaged stream=%s seq=%d part=%d duration=%.3f offset=%.3f",
                 self.stream_id, seq, n, duration, state.offset - duration)
        return state

    def _finish_clip(self, state: PlaylistState, seq: int, started: float) -> PlaylistState:
        """Every part of an encoded clip is in the playlist: go on to the next clip."""
        state = state.model_copy(update={"next_seq": seq + 1, "next_part": 0})
        self._save(state)
        published = time.time()
        timings = self._mark_packaged(seq, package=published - started, published=published)
        log.info(
            "clip packaged stream=%s seq=%d segments=%d offset=%.3f latency_s=%s",
            self.stream_id, seq, sum(s.seq == seq for s in state.segments), state.offset,
            round(timings["latency"], 3) if "latency" in timings else None,
        )
        return state

    def _give_up(self, state: PlaylistState, seq: int, error: SegmentTooLong) -> PlaylistState:
        """Publishing the clip would break the fixed target duration for every player, so
        the stream goes on without it rather than stalling behind it."""
        log.error("clip not packaged stream=%s seq=%d error=%s", self.stream_id, seq, error)
        self.streams.update_clip(self.stream_id, seq, state=ClipState.failed,
                                 error_code="bad_segments", error=str(error))
        state = state.model_copy(update={"next_seq": seq + 1, "next_part": 0})
        self._save(state)
        return state

    def _mark_packaged(self, seq: int, *, package: float, published: float) -> dict[str, float]:
        """Record the clip's packaging time and its latency from registration to playlist."""
        clip = self.streams.get_clip(self.stream_id, seq)
        if clip is None:  # expired with its stream: nothing left to mark
            return {}
        timings = {**clip.timings, "package": package}
        if "registered_at" in timings:
            timings["latency"] = published - timings["registered_at"]
        self.streams.update_clip(self.stream_id, seq, state=ClipState.packaged, timings=timings)
        return timings

    async def _end(self, store: ObjectStore, state: PlaylistState) -> None:
        """Close the playlist (ENDLIST), write the download, mark the stream ended.

        The packager's own `ended` is recorded last, so a packager killed anywhere in
        between leaves work that the next run redoes, never a stream stuck in `ending`.
        """
        state = state.model_copy(update={"ended": True})
        await self._write_playlist(store, state)
        await write_download(store, self.stream_id, [(s.seq, s.part) for s in state.segments])
        stream = self.streams.get_stream(self.stream_id)
        if stream is not None and stream.state == StreamState.ending:
            self.streams.save_stream(stream.model_copy(update={"state": StreamState.ended}))
        self._save(state)
        log.info("stream ended stream=%s segments=%d seconds=%.3f",
                 self.stream_id, len(state.segments), state.offset)

    async def _write_playlist(self, store: ObjectStore, state: PlaylistState) -> None:
        """One whole-object put: readers see the old playlist or the new one, never half.

        The lock is re-armed first; if it expired and another packager took the stream
        over, this raises instead of overwriting that packager's playlist.
        """
        self.lock.reacquire()
        text = render_playlist(state.segments, target=self.target, ended=state.ended)
        await store.put_bytes(keys.playlist_key(self.stream_id), text.encode(),
                              cache_control=PLAYLIST_CACHE_CONTROL)

    def _save(self, state: PlaylistState) -> None:
        self.redis.set(keys.redis_hls(self.stream_id), state.model_dump_json(),
                       ex=self.settings.stream_ttl_seconds)
