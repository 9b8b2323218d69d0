"""Whole videos as files: a browser's upload of one for ingest, and the enhanced MP4 back.

The upload goes straight from the browser to S3 (a presigned POST at `keys.source_key`,
capped at `ingest_max_bytes` by S3 itself); the ingest job then cuts it exactly like a
video fetched from a URL.
"""

from fastapi import APIRouter, status
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from services.api.deps import NewStreamQuota, SettingsDep, StoreDep, StreamAuth, StreamsDep
from services.api.routes.streams import original_playlist_url, playlist_url
from services.api.schemas import DownloadLink, VideoIngesting, VideoUploadGrant
from services.core import keys
from services.core.errors import BadRequest, Conflict, NotFound
from services.core.jobqueue import enqueue_ingest
from services.core.schemas import Enhancement, Stream, StreamState
from services.core.storage import ObjectStore

router = APIRouter(tags=["videos"])

# A signed link is checked when its download starts, so a slow line still fetches it
# whole; the hub asks for a fresh one on every click.
DOWNLOAD_EXPIRY_SECONDS = 600


@router.post("/v1/videos/uploads", status_code=status.HTTP_201_CREATED, dependencies=[NewStreamQuota])
async def grant_video_upload(
    settings: SettingsDep, streams: StreamsDep, store: StoreDep, enhancement: Enhancement | None = None
) -> VideoUploadGrant:
    """A new stream and a presigned POST for its whole video; then call `.../ingest`."""
    stream, token = await run_in_threadpool(
        streams.create_stream, enhancement or Enhancement(scale=settings.default_scale)
    )
    key = keys.source_key(stream.id)
    post = await store.presign_post(key, settings.ingest_max_bytes, settings.upload_expiry_seconds)
    return VideoUploadGrant(
        id=stream.id, token=token, playlist_url=playlist_url(settings, stream.id),
        original_playlist_url=original_playlist_url(settings, stream.id),
        url=post["url"], fields=post["fields"], key=key,
        expires_in=settings.upload_expiry_seconds, max_bytes=settings.ingest_max_bytes,
    )


@router.post("/v1/videos/{stream_id}/ingest", status_code=status.HTTP_202_ACCEPTED)
async def ingest_uploaded_video(
    stream: StreamAuth, settings: SettingsDep, streams: StreamsDep, store: StoreDep
) -> VideoIngesting:
    """Cut the uploaded video into clips and enhance them, as `POST /v1/videos` does a URL."""
    if stream.state != StreamState.live or stream.source_url is not None:
        raise Conflict("this stream takes no uploaded video", code="stream_not_live")
    head = await store.head(keys.source_key(stream.id))
    if head is None or head["size"] == 0:
        raise BadRequest(f"nothing was uploaded at {keys.source_key(stream.id)}", code="source_missing")
    await run_in_threadpool(enqueue_ingest, streams.redis, settings, stream.id)
    return VideoIngesting(
        id=stream.id, state=stream.state, playlist_url=playlist_url(settings, stream.id),
        original_playlist_url=original_playlist_url(settings, stream.id),
    )


@router.get("/v1/streams/{stream_id}/download", status_code=status.HTTP_307_TEMPORARY_REDIRECT,
            response_class=RedirectResponse)
async def download(stream: StreamAuth, store: StoreDep) -> RedirectResponse:
    """A redirect to the whole enhanced video (MP4), once the stream has ended."""
    return RedirectResponse(await _signed_download(stream, store), status_code=307)


@router.get("/v1/streams/{stream_id}/download-link")
async def download_link(stream: StreamAuth, store: StoreDep) -> DownloadLink:
    """The whole enhanced video as a short-lived signed link, for a page to put in an `<a>`:
    a link to `.../download?token=` would leave the stream's token in the browser's history
    and in every log the click passes."""
    return DownloadLink(url=await _signed_download(stream, store), expires_in=DOWNLOAD_EXPIRY_SECONDS)


async def _signed_download(stream: Stream, store: ObjectStore) -> str:
    key = keys.download_key(stream.id)
    if stream.state != StreamState.ended or await store.head(key) is None:
        raise NotFound("the enhanced video is ready once the stream has ended", code="download_not_ready")
    return await store.presign_get(key, DOWNLOAD_EXPIRY_SECONDS)
