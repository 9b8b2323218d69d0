"""Stream and clip records in Redis: the only code that reads or writes those keys.

The steps that move a stream or a clip from one state to the next are named in
`stream_transitions` and `clip_transitions`; the playlist record is `playlist_record`'s.

`StreamStore` is synchronous (redis-py), like RQ itself; the API calls its writes from a
thread pool. `StreamReader` makes the two reads every API request needs (the stream, its
clips) from the event loop through redis.asyncio, since a thread-pool hop costs more than
the read. Every write refreshes the stream's TTL, so a stream expires only after inactivity.
"""

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from typing import Any

from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.client import Pipeline
from redis.exceptions import WatchError

from services.core import keys
from services.core.errors import Conflict
from services.core.schemas import Capture, Clip, ClipPart, Enhancement, Size, Stream

NOT_LIVE = -1
# KEYS: stream, clip, clip index, playlist record, activity index; ARGV: clip JSON, TTL, seq,
# now, stream id. Returns 1 (added), 0 (seq already registered) or NOT_LIVE (stream gone
# or not live).
INSERT_CLIP_IF_LIVE = """
local raw = redis.call('GET', KEYS[1])
if not raw or cjson.decode(raw)['state'] ~= 'live' then return -1 end
if not redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2], 'NX') then return 0 end
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[3])
redis.call('ZADD', KEYS[5], ARGV[4], ARGV[5])
for _, key in ipairs({KEYS[1], KEYS[3], KEYS[4]}) do redis.call('EXPIRE', key, ARGV[2]) end
return 1
"""



def new_stream_id() -> str:
    return secrets.token_hex(16)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(stream: Stream, token: str | None) -> bool:
    """Constant-time comparison, so timing tells nothing about the stored hash."""
    return token is not None and hmac.compare_digest(stream.token_hash, hash_token(token))


class StreamStore:
    def __init__(self, redis: Redis, ttl_seconds: int) -> None:
        self.redis = redis
        self.ttl = ttl_seconds
        self._insert_clip_if_live = redis.register_script(INSERT_CLIP_IF_LIVE)

    def create_stream(
        self, enhancement: Enhancement, source_url: str | None = None,
        capture: Capture | None = None, output: Size | None = None,
    ) -> tuple[Stream, str]:
        """A new stream and its secret token (returned once, stored only as a hash); its
        output size when the client announced what it captures."""
        token = new_token()
        stream = Stream(
            id=new_stream_id(),
            token_hash=hash_token(token),
            enhancement=enhancement,
            created_at=time.time(),
            source_url=source_url,
            capture=capture,
        )
        if output is not None:
            self.claim_output(stream.id, output)
        self.save_stream(stream)
        return stream, token

    def claim_output(self, stream_id: str, size: Size) -> Size:
        """Fix the stream's output size to `size` unless it is fixed already (SET NX: the
        first writer wins, two workers on two clips agree); returns the one that holds."""
        key = keys.redis_stream_output(stream_id)
        self.redis.set(key, format_size(size), nx=True, ex=self.ttl)
        return parse_size(self.redis.get(key)) or size

    def get_output(self, stream_id: str) -> Size | None:
        return parse_size(self.redis.get(keys.redis_stream_output(stream_id)))

    def get_stream(self, stream_id: str) -> Stream | None:
        return parse_stream(self.redis.get(keys.redis_stream(stream_id)))

    def save_stream(self, stream: Stream, pipe: Pipeline | None = None) -> None:
        """Store the stream and mark it active now: the sweep ends a live stream idle too
        long and removes an ended one once its retention has passed, both from this time.
        Into `pipe` when given (a transaction of `update_stream`'s), else at once."""
        writes = pipe if pipe is not None else self.redis.pipeline(transaction=False)
        writes.set(keys.redis_stream(stream.id), stream.model_dump_json(), ex=self.ttl)
        writes.zadd(keys.REDIS_STREAM_ACTIVITY, {stream.id: time.time()})
        if pipe is None:
            writes.execute()
            self._touch(stream.id)

    def update_stream(self, stream_id: str, change: Callable[[Stream], Stream | None]) -> Stream | None:
        """Apply `change` to the stream as stored now, atomically: the read and the write
        are one WATCH/MULTI transaction, retried if another writer got in between, so a
        transition never writes back a copy read earlier (a stop undoing a concurrent
        failure). `change` returns None to leave the stream as it is; the result is the
        stream as stored afterwards (None if there is none)."""
        return self._watched(stream_id, keys.redis_stream(stream_id), parse_stream, change, self.save_stream)

    def inactive_since(self, before: float) -> dict[str, float]:
        """Stream id -> time of its last clip or state change, for those before `before`."""
        found = self.redis.zrangebyscore(keys.REDIS_STREAM_ACTIVITY, "-inf", before, withscores=True)
        return {stream_id.decode(): at for stream_id, at in found}

    def delete_stream(self, stream_id: str) -> None:
        """Every Redis key of the stream, its record first so no request finds it meanwhile."""
        self.redis.delete(keys.redis_stream(stream_id))
        seqs = self.clip_seqs(stream_id)
        self.redis.delete(
            keys.redis_clip_index(stream_id), keys.redis_playlist_record(stream_id), keys.redis_upload_ledger(stream_id),
            keys.redis_stream_output(stream_id), keys.redis_live_source(stream_id),
            *(keys.redis_clip(stream_id, seq) for seq in seqs),
            *(keys.redis_clip_parts(stream_id, seq) for seq in seqs),
        )
        self.redis.zrem(keys.REDIS_STREAM_ACTIVITY, stream_id)

    def insert_clip(self, clip: Clip) -> bool:
        """Store a new clip while its stream is live; False if that seq is already there.

        One Lua script checks the state and adds the clip, so a clip can never slip in
        after a stop (a single SET of the stream) has been seen by the packager.
        """
        clip.updated_at = time.time()
        stream_id = clip.stream_id
        added = self._insert_clip_if_live(
            keys=[keys.redis_stream(stream_id), keys.redis_clip(stream_id, clip.seq),
                  keys.redis_clip_index(stream_id), keys.redis_playlist_record(stream_id), keys.REDIS_STREAM_ACTIVITY],
            args=[clip.model_dump_json(), self.ttl, clip.seq, clip.updated_at, stream_id],
        )
        if added == NOT_LIVE:
            raise Conflict(f"stream {stream_id} is not live, it takes no more clips", code="stream_not_live")
        return bool(added)

    def get_clip(self, stream_id: str, seq: int) -> Clip | None:
        raw = self.redis.get(keys.redis_clip(stream_id, seq))
        return Clip.model_validate_json(raw) if raw else None

    def save_clip(self, clip: Clip, pipe: Pipeline | None = None) -> None:
        clip.updated_at = time.time()
        (pipe or self.redis).set(keys.redis_clip(clip.stream_id, clip.seq), clip.model_dump_json(), ex=self.ttl)
        if pipe is None:
            self._touch(clip.stream_id)

    def update_clip(self, stream_id: str, seq: int, **changes: object) -> Clip:
        """Set fields of the clip as stored now, in one WATCH/MULTI transaction (a worker's
        progress write cannot undo the packager's `fail_clip`, or the other way round)."""
        def parse(raw: bytes | None) -> Clip | None:
            return Clip.model_validate_json(raw) if raw else None

        updated = self._watched(stream_id, keys.redis_clip(stream_id, seq), parse,
                                lambda clip: clip.model_copy(update=changes), self.save_clip)
        if updated is None:
            raise KeyError(f"clip {stream_id}/{seq} is not registered")
        return updated

    def _watched(self, stream_id: str, key: str, parse: Callable, change: Callable, save: Callable) -> Any:
        """Read `key`, `change` it and `save` it in one optimistic transaction: the write
        goes through only if nobody wrote `key` since the read, else it all runs again."""
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    current = parse(pipe.get(key))
                    new = None if current is None else change(current)
                    if new is None:
                        pipe.unwatch()
                        return current
                    pipe.multi()
                    save(new, pipe)
                    pipe.execute()
                    self._touch(stream_id)
                    return new
                except WatchError:
                    continue

    def add_part(self, stream_id: str, seq: int, part: ClipPart) -> None:
        """Record a published part; a hash field per part, so a repeat overwrites itself."""
        key = keys.redis_clip_parts(stream_id, seq)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(key, str(part.n), part.model_dump_json())
        pipe.expire(key, self.ttl)
        pipe.execute()
        self._touch(stream_id)

    def get_parts(self, stream_id: str, seq: int) -> list[ClipPart]:
        raw = self.redis.hvals(keys.redis_clip_parts(stream_id, seq))
        return sorted((ClipPart.model_validate_json(value) for value in raw), key=lambda part: part.n)

    def part_counts(self, stream_id: str, seqs: list[int]) -> dict[int, int]:
        """Per clip, how many parts from part 0 on are published without a gap: only
        those may be appended, even if a later one was somehow recorded first."""
        pipe = self.redis.pipeline(transaction=False)
        for seq in seqs:
            pipe.hkeys(keys.redis_clip_parts(stream_id, seq))
        counts = {}
        for seq, names in zip(seqs, pipe.execute(), strict=True):
            present = {int(name) for name in names}
            counts[seq] = next(n for n in range(len(present) + 1) if n not in present)
        return counts

    def clip_seqs(self, stream_id: str) -> list[int]:
        return [int(s) for s in self.redis.zrange(keys.redis_clip_index(stream_id), 0, -1)]

    def clip_count(self, stream_id: str) -> int:
        return int(self.redis.zcard(keys.redis_clip_index(stream_id)))

    def get_clips(self, stream_id: str) -> list[Clip]:
        """Every registered clip in seq order, in one round trip: SORT BY nosort keeps the
        sorted set's order and GET fetches each clip's JSON by pattern."""
        raws = self.redis.sort(
            keys.redis_clip_index(stream_id), by="nosort", get=keys.redis_clip_pattern(stream_id)
        )
        return parse_clips(raws)

    def _touch(self, stream_id: str) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for key in (
            keys.redis_stream(stream_id),
            keys.redis_clip_index(stream_id),
            keys.redis_playlist_record(stream_id),
            keys.redis_upload_ledger(stream_id),
            keys.redis_stream_output(stream_id),
        ):
            pipe.expire(key, self.ttl)
        pipe.execute()


class StreamReader:
    """`StreamStore`'s two reads, awaited on the event loop."""

    def __init__(self, redis: AsyncRedis) -> None:
        self.redis = redis

    async def get_stream(self, stream_id: str) -> Stream | None:
        return parse_stream(await self.redis.get(keys.redis_stream(stream_id)))

    async def get_clips(self, stream_id: str, newest: int | None = None) -> list[Clip]:
        """Every clip in seq order, or only the `newest` ones (SORT's LIMIT from the end)."""
        index = keys.redis_clip_index(stream_id)
        limit = {}
        if newest is not None:
            limit = {"start": max(await self.redis.zcard(index) - newest, 0), "num": newest}
        raws = await self.redis.sort(index, by="nosort", get=keys.redis_clip_pattern(stream_id), **limit)
        return parse_clips(raws)

    async def get_output(self, stream_id: str) -> Size | None:
        return parse_size(await self.redis.get(keys.redis_stream_output(stream_id)))


def format_size(size: Size) -> str:
    return f"{size.width}x{size.height}"


def parse_size(raw: bytes | None) -> Size | None:
    if not raw:
        return None
    width, height = raw.decode().split("x")
    return Size(width=int(width), height=int(height))


def parse_stream(raw: bytes | None) -> Stream | None:
    return Stream.model_validate_json(raw) if raw else None


def parse_clips(raws: list[bytes | None]) -> list[Clip]:
    return [Clip.model_validate_json(raw) for raw in raws if raw]
