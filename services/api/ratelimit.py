"""Request rate limits: fixed-window counters in Redis per client address and per stream token.

One Redis round trip per request (a pipeline of INCR and EXPIRE per counter), from the
event loop through an asyncio Redis client, so a refused request costs no thread, no
routing and no body parsing. The same counter caps how many streams one address creates.
While Redis is away the counters live in this process instead (each API process then
allows its own share), so an outage neither opens the API to floods nor takes it down.
"""

import hashlib
import ipaddress
import logging
import math
import time
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Receive, Scope, Send

from services.api.schemas import error_response
from services.api.tokens import presented_token
from services.core.errors import SharprError
from services.core.keys import REDIS_PREFIX
from services.core.settings import Settings

log = logging.getLogger(__name__)

# Probes and scrapes come from the platform, often from one address, and must never be refused.
EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class RateLimited(SharprError, status=429):
    """Over a limit on requests or event streams; `retry_after` says when to try again."""

    def __init__(self, message: str, retry_after: int, *, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Limit:
    """At most `count` hits per `window` seconds for each subject of `name`; else `code`."""

    name: str
    count: int
    window: int
    code: str = "rate_limited"


class FixedWindow:
    """Counters that reset at each multiple of their window (cheap; at most 2x a burst at the edge)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.local: dict[str, int] = {}  # counters kept here while Redis is away

    async def hit(self, *charges: tuple[Limit, str]) -> RateLimited | None:
        """Count one hit on each (limit, subject); the refusal for the first one over, if any."""
        now = time.time()
        counter_keys = [
            f"{REDIS_PREFIX}:rate:{limit.name}:{subject}:{int(now // limit.window)}" for limit, subject in charges
        ]
        pipe = self.redis.pipeline(transaction=False)
        for (limit, _), key in zip(charges, counter_keys):
            pipe.incr(key)
            pipe.expire(key, limit.window + 1)
        try:
            counts = (await pipe.execute())[::2]
        except (RedisError, OSError) as error:
            log.warning("event=rate_limit_counted_locally error=%r", str(error))
            counts = self._count_locally(counter_keys)
        else:
            self.local.clear()
        for (limit, _), count in zip(charges, counts):
            if count > limit.count:
                retry_after = max(1, math.ceil((now // limit.window + 1) * limit.window - now))
                return RateLimited(
                    f"over {limit.count} {limit.name.replace('_', ' ')} per {limit.window} s; "
                    f"retry in {retry_after} s", retry_after, code=limit.code,
                )
        return None

    def _count_locally(self, counter_keys: list[str]) -> list[int]:
        """This process's own counts (a key names its window, so a new window starts at 0);
        cleared once Redis answers again, or past 100,000 keys so memory stays bounded."""
        if len(self.local) > 100_000:
            self.local.clear()
        counts = []
        for key in counter_keys:
            self.local[key] = self.local.get(key, 0) + 1
            counts.append(self.local[key])
        return counts


def request_limits(settings: Settings) -> tuple[Limit, Limit]:
    window = settings.rate_limit_window_seconds
    return (Limit("requests_per_address", settings.rate_limit_per_address, window),
            Limit("requests_per_token", settings.rate_limit_per_token, window))


def stream_limit(settings: Settings) -> Limit:
    return Limit("streams_per_address", settings.streams_per_address,
                 settings.streams_per_address_window_seconds, code="too_many_streams")


def client_address(scope: Scope) -> str:
    """Who the per-address limits count: the client as uvicorn reports it (from
    X-Forwarded-For only when the peer is in `api_forwarded_allow_ips`), an IPv6 one as its
    /64, since one subscriber is given a whole /64 and could otherwise take a fresh
    address, and a fresh budget, for every request."""
    client = scope.get("client")
    if not client:
        return "unknown"
    try:
        address = ipaddress.ip_address(client[0])
    except ValueError:  # a name, as a test client or a Unix socket reports it
        return client[0]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network((address, 64), strict=False))
    return str(address)


def token_subject(token: str) -> str:
    """Counters are keyed by a digest: Redis never holds a usable token."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


class RateLimitMiddleware:
    """429 `rate_limited` with Retry-After once an address or a token is over its window's
    count; 400 `token_duplicated` for a request naming two tokens."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.per_address, self.per_token = request_limits(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        charges = [(self.per_address, client_address(scope))]
        malformed: SharprError | None = None
        try:
            token = presented_token(scope)
        except SharprError as error:  # refused below, once the address has been counted
            token, malformed = None, error
        if token:
            charges.append((self.per_token, token_subject(token)))
        refused = await scope["app"].state.limiter.hit(*charges) or malformed
        if refused is None:
            await self.app(scope, receive, send)
            return
        log.info("event=request_refused code=%s path=%s address=%s", refused.code, scope["path"], charges[0][1])
        retry = {"Retry-After": str(refused.retry_after)} if isinstance(refused, RateLimited) else None
        response = error_response(refused.status, refused.code, refused.message, headers=retry)
        await response(scope, receive, send)
