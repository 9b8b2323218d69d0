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

from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from services.core import keys
from services.core.errors import Conflict, TooLarge
from services.core.schemas import Capture, Clip, ClipPart, Enhancement, Size, Stream

NOT_LIVE = -1
REGISTERED = -2
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

# KEYS: stream, upload ledger, clip index; ARGV: seq, clip max bytes, budget, now, grant expiry, TTL.
# The ledger maps seq -> "bytes:grant_expires_at". A clip counts the full clip limit while
# its grant can still be used (its object may yet grow to that), else its settled size.
# Returns 1 (granted), 0 (over the budget), NOT_LIVE or REGISTERED (no grant over a checked clip).
RESERVE_UPLOAD = """
local raw = redis.call('GET', KEYS[1])
if not raw or cjson.decode(raw)['state'] ~= 'live' then return -1 end
if redis.call('ZSCORE', KEYS[3], ARGV[1]) then return -2 end
local max, now = tonumber(ARGV[2]), tonumber(ARGV[4])
local used, settled = 0, ARGV[2]
local ledger = redis.call('HGETALL', KEYS[2])
for i = 1, #ledger, 2 do
  local bytes, expires = string.match(ledger[i + 1], '^(%d+):(.+)$')
  if ledger[i] == ARGV[1] then settled = bytes
  elseif tonumber(expires) > now then used = used + max
  else used = used + tonumber(bytes) end
end
if used + max > tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], settled .. ':' .. ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[6])
return 1
"""
# KEYS: upload ledger; ARGV: seq, size. The clip's entry keeps its grant's expiry.
SETTLE_UPLOAD = """
local entry = redis.call('HGET', KEYS[1], ARGV[1])
if entry then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. string.match(entry, ':.*$')) end
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
        self._reserve_upload = redis.register_script(RESERVE_UPLOAD)
        self._settle_upload = redis.register_script(SETTLE_UPLOAD)

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

    def save_stream(self, stream: Stream) -> None:
        """Store the stream and mark it active now: the sweep ends a live stream idle too
        long and removes an ended one once its retention has passed, both from this time."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(keys.redis_stream(stream.id), stream.model_dump_json(), ex=self.ttl)
        pipe.zadd(keys.REDIS_STREAM_ACTIVITY, {stream.id: time.time()})
        pipe.execute()
        self._touch(stream.id)

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

    def reserve_upload(self, stream_id: str, seq: int, max_bytes: int, budget: int, expires_in: int) -> None:
        """Charge an upload grant for clip `seq` against the stream's byte budget.

        The clip counts `max_bytes` until its grant expires (S3 accepts that much until
        then) and its registered size after; granting the same seq again replaces its
        charge. Checked with the stream's state in one script, so no grant follows a stop.
        """
        now = time.time()
        granted = self._reserve_upload(
            keys=[keys.redis_stream(stream_id), keys.redis_upload_ledger(stream_id), keys.redis_clip_index(stream_id)],
            args=[seq, max_bytes, budget, now, now + expires_in, self.ttl],
        )
        if granted == NOT_LIVE:
            raise Conflict(f"stream {stream_id} is not live, it takes no more clips", code="stream_not_live")
        if granted == REGISTERED:
            raise Conflict(f"clip {seq} is already registered: it cannot be uploaded again", code="clip_exists")
        if not granted:
            raise TooLarge(f"the stream has used its storage budget of {budget} bytes", code="stream_storage_full")

    def settle_upload(self, stream_id: str, seq: int, size: int) -> None:
        """Record the registered clip's real size, charged once its grant has expired."""
        self._settle_upload(keys=[keys.redis_upload_ledger(stream_id)], args=[seq, size])

    def get_clip(self, stream_id: str, seq: int) -> Clip | None:
        raw = self.redis.get(keys.redis_clip(stream_id, seq))
        return Clip.model_validate_json(raw) if raw else None

    def save_clip(self, clip: Clip) -> None:
        clip.updated_at = time.time()
        self.redis.set(keys.redis_clip(clip.stream_id, clip.seq), clip.model_dump_json(), ex=self.ttl)
        self._touch(clip.stream_id)

    def update_clip(self, stream_id: str, seq: int, **changes: object) -> Clip:
        clip = self.get_clip(stream_id, seq)
        if clip is None:
            raise KeyError(f"clip {stream_id}/{seq} is not registered")
        updated = clip.model_copy(update=changes)
        self.save_clip(updated)
        return updated

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
