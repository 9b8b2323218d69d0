"""Named dependencies, so every route reads like its spec."""

from typing import Annotated

from fastapi import Depends, Header, Query, Request
from redis import Redis

from services.api.events import EventSlots
from services.api.ratelimit import client_address, stream_limit
from services.api.tokens import presented_token
from services.core.errors import NotFound, Unauthorized
from services.core.jobqueue import FAIL_FAST_SECONDS, redis_client
from services.core.keys import STREAM_ID_RE
from services.core.schemas import Stream
from services.core.settings import Settings, get_settings
from services.core.storage import ObjectStore
from services.core.streams import StreamReader, StreamStore, token_matches

# Dependencies that do no I/O are `async def`: FastAPI runs a plain `def` dependency in
# the thread pool, a hop per request that costs more than the work itself.


async def current_settings() -> Settings:
    return get_settings()


SettingsDep = Annotated[Settings, Depends(current_settings)]


async def get_redis(settings: SettingsDep) -> Redis:
    """A client that gives up within a second when Redis is away: the route answers 503."""
    return redis_client(settings.redis_url, FAIL_FAST_SECONDS)


RedisDep = Annotated[Redis, Depends(get_redis)]


async def get_streams(redis: RedisDep, settings: SettingsDep) -> StreamStore:
    return StreamStore(redis, settings.stream_ttl_seconds)


StreamsDep = Annotated[StreamStore, Depends(get_streams)]


async def get_store(request: Request) -> ObjectStore:
    """The app-wide S3 client opened in the lifespan."""
    return request.app.state.store


StoreDep = Annotated[ObjectStore, Depends(get_store)]


async def get_reader(request: Request) -> StreamReader:
    """The app-wide asyncio reader of streams and clips opened in the lifespan."""
    return request.app.state.reader


ReaderDep = Annotated[StreamReader, Depends(get_reader)]


async def get_event_slots(request: Request) -> EventSlots:
    """The app-wide cap on open event streams, set up in the lifespan."""
    return request.app.state.event_slots


EventSlotsDep = Annotated[EventSlots, Depends(get_event_slots)]


async def get_token(
    request: Request,
    authorization: Annotated[str | None, Header(description="Bearer <stream token>")] = None,
    token: Annotated[str | None, Query(description="Stream token, for EventSource")] = None,
) -> str | None:
    """The token as the rate limiter read it (`tokens.presented_token`); the two
    parameters only document both ways of sending it in the OpenAPI spec."""
    return presented_token(request.scope)


TokenDep = Annotated[str | None, Depends(get_token)]


async def authorized_stream(stream_id: str, reader: ReaderDep, token: TokenDep) -> Stream:
    """The stream, if the caller holds its token; a token never opens another stream."""
    stream = await reader.get_stream(stream_id) if STREAM_ID_RE.match(stream_id) else None
    if stream is None:
        raise NotFound(f"no stream {stream_id!r}", code="stream_not_found")
    if token is None:
        raise Unauthorized("this call needs the stream's token (Authorization: Bearer ...)", code="token_missing")
    if not token_matches(stream, token):
        raise Unauthorized("the token does not belong to this stream", code="token_invalid")
    return stream


StreamAuth = Annotated[Stream, Depends(authorized_stream)]


async def charge_new_stream(request: Request, settings: SettingsDep) -> None:
    """Count a stream created by this address; 429 `too_many_streams` over the window's quota."""
    refused = await request.app.state.limiter.hit((stream_limit(settings), client_address(request.scope)))
    if refused is not None:
        raise refused


NewStreamQuota = Depends(charge_new_stream)
