"""Server-sent events of a stream's progress, built by polling Redis, and the cap on how
many are open.

Polling (twice a second, two reads from the event loop) keeps the writers simple: workers only write state,
nobody has to publish. The generator ends once the stream has ended or failed.

Each open event stream costs a poll loop, so one token and one client address may hold only
so many (`EventSlots`); a client refused with 429 polls `GET /v1/streams/{id}` instead.
"""

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator

import anyio
from fastapi import Request
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.api.ratelimit import RateLimited
from services.core.keys import REDIS_PREFIX
from services.core.schemas import StreamState
from services.core.streams import StreamReader

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
HEARTBEAT_SECONDS = 15.0
FINAL_STATES = (StreamState.ended, StreamState.failed)


def sse(event: str, data: str) -> str:
    return f"event: {event}\ndata: {data}\n\n"


async def stream_events(request: Request, reader: StreamReader, stream_id: str) -> AsyncIterator[str]:
    seen: dict[int, float] = {}
    last_state: StreamState | None = None
    idle = 0.0
    yield "retry: 2000\n\n"
    while not await request.is_disconnected():
        stream = await reader.get_stream(stream_id)
        if stream is None:
            yield sse("stream", json.dumps({"id": stream_id, "state": "expired"}))
            return
        sent = False
        for clip in await reader.get_clips(stream_id):
            if seen.get(clip.seq) != clip.updated_at:
                seen[clip.seq] = clip.updated_at
                yield sse("clip", clip.model_dump_json())
                sent = True
        if stream.state != last_state:
            last_state = stream.state
            yield sse("stream", json.dumps({"id": stream_id, "state": stream.state}))
            sent = True
        if stream.state in FINAL_STATES:
            return
        idle = 0.0 if sent else idle + POLL_SECONDS
        if idle >= HEARTBEAT_SECONDS:
            idle = 0.0
            yield ": keep-alive\n\n"
        await asyncio.sleep(POLL_SECONDS)


# A slot is a lease, renewed while its stream runs, so a killed API process frees its
# slots within LEASE_SECONDS. Heartbeats (every HEARTBEAT_SECONDS) guarantee a renewal.
LEASE_SECONDS = 60
RENEW_SECONDS = LEASE_SECONDS / 3
# KEYS: the token's slot set, the address's; ARGV: now, lease end, slot id, token limit,
# address limit. Sets map slot id -> lease end. Returns 0 (taken) or the full set's index.
TAKE_SLOT = """
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[1])
  if redis.call('ZCARD', key) >= tonumber(ARGV[3 + i]) then return i end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, ARGV[2], ARGV[3])
  redis.call('EXPIRE', key, math.ceil(ARGV[2] - ARGV[1]))
end
return 0
"""


class EventSlots:
    """At most `per_token` open event streams per stream token and `per_address` per
    client address, counted in Redis so every API process shares the count."""

    def __init__(self, redis: Redis, per_token: int, per_address: int) -> None:
        self.redis = redis
        self.limits = (per_token, per_address)
        self._take = redis.register_script(TAKE_SLOT)

    async def hold(self, token_subject: str, address: str, events: AsyncIterator[str]) -> AsyncIterator[str]:
        """`events`, while a slot is held for it; `RateLimited` (429 `too_many_event_streams`)
        before the first event if the token or the address has none left."""
        sets = [f"{REDIS_PREFIX}:events:token:{token_subject}", f"{REDIS_PREFIX}:events:address:{address}"]
        slot = uuid.uuid4().hex
        now = time.time()
        full = await self._take(keys=sets, args=[now, now + LEASE_SECONDS, slot, *self.limits])
        if full:
            holder = ("stream token", "client address")[full - 1]
            raise RateLimited(f"too many open event streams for this {holder}; poll GET /v1/streams/{{id}}",
                              LEASE_SECONDS // 2, code="too_many_event_streams")
        return self._held(sets, slot, events)

    async def _held(self, sets: list[str], slot: str, events: AsyncIterator[str]) -> AsyncIterator[str]:
        renewed = time.monotonic()
        try:
            async for chunk in events:
                yield chunk
                if time.monotonic() - renewed >= RENEW_SECONDS:
                    renewed = time.monotonic()
                    await self._renew(sets, slot)
        finally:
            # Shielded: a client that goes away cancels this task, and every await in a
            # cancelled scope would be cancelled too, keeping the slot until its lease ends.
            with anyio.CancelScope(shield=True):
                await self._free(sets, slot)

    async def _free(self, sets: list[str], slot: str) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for key in sets:
            pipe.zrem(key, slot)
        try:
            await pipe.execute()
        except (RedisError, OSError):  # the lease runs out by itself
            log.warning("event=event_slot_not_freed slot=%s", slot)

    async def _renew(self, sets: list[str], slot: str) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for key in sets:
            pipe.zadd(key, {slot: time.time() + LEASE_SECONDS}, xx=True)
        try:
            await pipe.execute()
        except (RedisError, OSError):  # the next renewal tries again
            log.warning("event=event_slot_not_renewed slot=%s", slot)
