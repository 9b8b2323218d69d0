"""Streams and their clips: create, upload grants, registration, status, events, stop, delete."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from services.api.deps import (
    EventSlotsDep,
    NewStreamQuota,
    ReaderDep,
    SettingsDep,
    StoreDep,
    StreamAuth,
    StreamsDep,
    TokenDep,
)
from services.api.events import stream_events
from services.api.ratelimit import client_address, token_subject
from services.api.schemas import (
    ClipRegistration,
    LiveStatus,
    StopResult,
    StreamCreated,
    StreamLimits,
    StreamRequest,
    StreamStatus,
    UploadGrant,
    UploadRequest,
)
from services.api.uploaded_clips import register_uploaded_clip
from services.core import keys
from services.core.clip_transitions import check_clip_limit
from services.core.live_source import read_live_source
from services.core.retention import remove_stream
from services.core.schemas import Clip, Stream, StreamState
from services.core.settings import Settings
from services.core.stream_transitions import end_stream, open_stream
from services.core.streams import StreamReader
from services.core.upload_ledger import reserve_upload

router = APIRouter(prefix="/v1/streams", tags=["streams"])


def playlist_url(settings: Settings, stream_id: str) -> str:
    return f"{settings.s3_browser_url}/{keys.playlist_key(stream_id)}"


def original_playlist_url(settings: Settings, stream_id: str) -> str:
    return f"{settings.s3_browser_url}/{keys.original_playlist_key(stream_id)}"


def limits(settings: Settings) -> StreamLimits:
    return StreamLimits(
        clip_max_bytes=settings.clip_max_bytes,
        clip_max_seconds=settings.clip_max_seconds,
        segment_seconds=settings.segment_seconds,
        upload_expiry_seconds=settings.upload_expiry_seconds,
        max_clips=settings.max_clips_per_stream,
        stream_max_bytes=settings.stream_max_bytes,
    )


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[NewStreamQuota])
def create_stream(settings: SettingsDep, streams: StreamsDep, body: StreamRequest | None = None) -> StreamCreated:
    body = body or StreamRequest(scale=settings.default_scale)
    stream, token, output = open_stream(streams, settings, body.enhancement(), body.capture)
    return StreamCreated(
        id=stream.id, token=token, playlist_url=playlist_url(settings, stream.id),
        state=stream.state, enhancement=stream.enhancement, limits=limits(settings), output=output,
    )


@router.post("/{stream_id}/uploads")
async def grant_upload(
    body: UploadRequest, stream: StreamAuth, settings: SettingsDep, streams: StreamsDep, store: StoreDep
) -> UploadGrant:
    """A presigned POST for one clip of a live stream, within its clip count and byte
    budget; S3 refuses bodies over the clip limit by itself. None for a clip already
    registered (409 `clip_exists`): its checked upload is not to be replaced."""
    check_clip_limit(body.seq, settings)
    await run_in_threadpool(
        reserve_upload, streams, stream.id, body.seq, settings.clip_max_bytes,
        settings.stream_max_bytes, settings.upload_expiry_seconds,
    )
    key = keys.input_key(stream.id, body.seq, body.ext)
    post = await store.presign_post(key, settings.clip_max_bytes, settings.upload_expiry_seconds)
    return UploadGrant(
        url=post["url"], fields=post["fields"], key=key,
        expires_in=settings.upload_expiry_seconds, max_bytes=settings.clip_max_bytes,
    )


@router.post("/{stream_id}/clips", status_code=status.HTTP_202_ACCEPTED)
async def register_clip(
    body: ClipRegistration, stream: StreamAuth, settings: SettingsDep, streams: StreamsDep, store: StoreDep
) -> Clip:
    return await register_uploaded_clip(stream, body.seq, body.key, settings, streams, store, tier=body.tier)


@router.get("/{stream_id}")
async def get_stream(
    stream: StreamAuth, settings: SettingsDep, reader: ReaderDep,
    newest_clips: Annotated[int | None, Query(ge=0, description=(
        "Only the newest N clips (a live source makes one every few seconds, for hours)."
    ))] = None,
) -> StreamStatus:
    return StreamStatus(
        id=stream.id, state=stream.state, playlist_url=playlist_url(settings, stream.id),
        enhancement=stream.enhancement, created_at=stream.created_at,
        source_url=stream.source_url, error=stream.error, capture=stream.capture,
        output=await reader.get_output(stream.id), live=await live_status(settings, reader, stream),
        clips=await reader.get_clips(stream.id, newest=newest_clips),
    )


async def live_status(settings: Settings, reader: StreamReader, stream: Stream) -> LiveStatus | None:
    if not stream.live_source or (source := await read_live_source(reader.redis, stream.id)) is None:
        return None
    return LiveStatus(
        following=stream.state == StreamState.live and not source.original.ended,
        segments_taken=source.segments_taken, seconds_taken=round(source.seconds_taken, 3),
        segments_missing=source.segments_missing, skipped_seconds=round(source.skipped_seconds, 3),
        delay_seconds=source.delay_seconds, original_playlist_url=original_playlist_url(settings, stream.id),
    )


@router.get("/{stream_id}/events", response_class=StreamingResponse)
async def events(
    request: Request, stream: StreamAuth, token: TokenDep, reader: ReaderDep, slots: EventSlotsDep
) -> StreamingResponse:
    """Server-sent events: `clip` on every clip change, `stream` on state changes. A token
    and a client address may hold only a few at once (429 `too_many_event_streams`: poll
    `GET /v1/streams/{id}` instead)."""
    held = await slots.hold(token_subject(token), client_address(request.scope),
                            stream_events(request, reader, stream.id))
    return StreamingResponse(
        held,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post("/{stream_id}/stop", status_code=status.HTTP_202_ACCEPTED)
async def stop_stream(stream: StreamAuth, settings: SettingsDep, streams: StreamsDep) -> StopResult:
    """No more clips (a live source is no longer followed); the playlist gets ENDLIST once
    every registered clip is packaged."""
    stream = await run_in_threadpool(end_stream, streams, settings, stream)
    return StopResult(id=stream.id, state=stream.state)


@router.delete("/{stream_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def delete_stream(stream: StreamAuth, streams: StreamsDep, store: StoreDep) -> Response:
    """The stream and all its objects (clips, playlists, segments, download), now; its
    playlist URL answers 404 from then on."""
    await remove_stream(streams, store, stream.id, reason="deleted")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
