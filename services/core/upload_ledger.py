"""The upload ledger: bytes of clip uploads charged against each stream's budget, kept in
Redis beside the stream (`keys.redis_upload_ledger`); the only code that reads or writes it.

A grant is charged before its presigned POST is given (`reserve_upload`), a registered
clip settles to its real size (`settle_upload`); both are Redis scripts, so the budget, the
stream's state and the clip index are checked in the same step as the write.
"""

import time

from services.core import keys
from services.core.errors import Conflict, TooLarge
from services.core.streams import NOT_LIVE, StreamStore

REGISTERED = -2
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


def reserve_upload(
    streams: StreamStore, stream_id: str, seq: int, max_bytes: int, budget: int, expires_in: int
) -> None:
    """Charge an upload grant for clip `seq` against the stream's byte budget.

    The clip counts `max_bytes` until its grant expires (S3 accepts that much until
    then) and its registered size after; granting the same seq again replaces its
    charge. Checked with the stream's state in one script, so no grant follows a stop,
    and none is given for a registered clip.
    """
    now = time.time()
    granted = streams.redis.register_script(RESERVE_UPLOAD)(
        keys=[keys.redis_stream(stream_id), keys.redis_upload_ledger(stream_id), keys.redis_clip_index(stream_id)],
        args=[seq, max_bytes, budget, now, now + expires_in, streams.ttl],
    )
    if granted == NOT_LIVE:
        raise Conflict(f"stream {stream_id} is not live, it takes no more clips", code="stream_not_live")
    if granted == REGISTERED:
        raise Conflict(f"clip {seq} is already registered: it cannot be uploaded again", code="clip_exists")
    if not granted:
        raise TooLarge(f"the stream has used its storage budget of {budget} bytes", code="stream_storage_full")


def settle_upload(streams: StreamStore, stream_id: str, seq: int, size: int) -> None:
    """Record the registered clip's real size, charged once its grant has expired."""
    streams.redis.register_script(SETTLE_UPLOAD)(keys=[keys.redis_upload_ledger(stream_id)], args=[seq, size])
