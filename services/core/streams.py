"""Stream and clip state in Redis: the only code that reads or writes those keys.

Synchronous (redis-py), like RQ itself; the API calls it from a thread pool. Every write
refreshes the stream's TTL, so a stream expires only after inactivity.
"""

import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable

from redis import Redis

from services.core import keys
from services.core.schemas import Clip, Enhancement, Stream


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

    def create_stream(self, enhancement: Enhancement, source_url: str | None = None) -> tuple[Stream, str]:
        """A new stream and its secret token (returned once, stored only as a hash)."""
        token = new_token()
        stream = Stream(
            id=new_stream_id(),
            token_hash=hash_token(token),
            enhancement=enhancement,
            created_at=time.time(),
            source_url=source_url,
        )
        self.save_stream(stream)
        return stream, token

    def get_stream(self, stream_id: str) -> Stream | None:
        raw = self.redis.get(keys.redis_stream(stream_id))
        return Stream.model_validate_json(raw) if raw else None

    def save_stream(self, stream: Stream) -> None:
        self.redis.set(keys.redis_stream(stream.id), stream.model_dump_json(), ex=self.ttl)
        self._touch(stream.id)

    def add_clip(self, clip: Clip) -> bool:
        """Register a clip; False if that seq is already registered."""
        clip.updated_at = time.time()
        created = self.redis.set(
            keys.redis_clip(clip.stream_id, clip.seq), clip.model_dump_json(), ex=self.ttl, nx=True
        )
        if not created:
            return False
        self.redis.zadd(keys.redis_clip_index(clip.stream_id), {str(clip.seq): clip.seq})
        self._touch(clip.stream_id)
        return True

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

    def clip_seqs(self, stream_id: str) -> list[int]:
        return [int(s) for s in self.redis.zrange(keys.redis_clip_index(stream_id), 0, -1)]

    def clip_count(self, stream_id: str) -> int:
        return int(self.redis.zcard(keys.redis_clip_index(stream_id)))

    def get_clips(self, stream_id: str, seqs: Iterable[int] | None = None) -> list[Clip]:
        seqs = list(self.clip_seqs(stream_id) if seqs is None else seqs)
        if not seqs:
            return []
        raws = self.redis.mget([keys.redis_clip(stream_id, s) for s in seqs])
        return [Clip.model_validate_json(raw) for raw in raws if raw]

    def _touch(self, stream_id: str) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for key in (
            keys.redis_stream(stream_id),
            keys.redis_clip_index(stream_id),
            keys.redis_hls(stream_id),
        ):
            pipe.expire(key, self.ttl)
        pipe.execute()
