"""Whole videos from a URL, split into clips server-side; and the original `/process-video`."""

from fastapi import APIRouter, status
from starlette.concurrency import run_in_threadpool

from services.api.deps import NewStreamQuota, SettingsDep, StreamsDep
from services.api.routes.streams import original_playlist_url, playlist_url
from services.api.schemas import (
    ProcessVideoRequest,
    ProcessVideoResult,
    VideoAccepted,
    VideoRequest,
)
from services.core.jobqueue import enqueue_ingest
from services.core.schemas import Enhancement
from services.core.settings import Settings
from services.core.streams import StreamStore
from services.core.urlguard import check_url

router = APIRouter(tags=["videos"])


async def start_ingest(
    url: str, enhancement: Enhancement, settings: Settings, streams: StreamStore
) -> tuple[str, str]:
    """Refuse internal URLs up front, then create the stream and queue its ingest."""
    await run_in_threadpool(check_url, url, settings.ingest_allow_hosts)
    stream, token = await run_in_threadpool(streams.create_stream, enhancement, url)
    await run_in_threadpool(enqueue_ingest, streams.redis, settings, stream.id)
    return stream.id, token


@router.post("/v1/videos", status_code=status.HTTP_202_ACCEPTED, dependencies=[NewStreamQuota])
async def add_video(body: VideoRequest, settings: SettingsDep, streams: StreamsDep) -> VideoAccepted:
    enhancement = Enhancement.model_validate(body.model_dump(exclude={"url"}))
    stream_id, token = await start_ingest(str(body.url), enhancement, settings, streams)
    return VideoAccepted(
        id=stream_id, token=token, playlist_url=playlist_url(settings, stream_id),
        original_playlist_url=original_playlist_url(settings, stream_id),
    )


@router.post("/process-video", status_code=status.HTTP_202_ACCEPTED, dependencies=[NewStreamQuota])
async def process_video(body: ProcessVideoRequest, settings: SettingsDep, streams: StreamsDep) -> ProcessVideoResult:
    """The original project's endpoint: a URL in, the enhanced playlist's URL out."""
    stream_id, _ = await start_ingest(
        str(body.video_url), Enhancement(scale=settings.default_scale), settings, streams
    )
    return ProcessVideoResult(stream_id=stream_id, playlist_url=playlist_url(settings, stream_id))
