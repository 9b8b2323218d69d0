"""Request and response bodies of the v1 API, with the examples shown at /docs."""

from collections.abc import Mapping

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from services.core.schemas import Clip, Enhancement, StreamState


class StreamLimits(BaseModel):
    clip_max_bytes: int
    clip_max_seconds: float
    segment_seconds: float
    upload_expiry_seconds: int
    max_clips: int
    stream_max_bytes: int = Field(description="Clip bytes the stream may upload in all.")


class StreamCreated(BaseModel):
    id: str
    token: str = Field(description="Secret for every later call on this stream; shown once.")
    playlist_url: str
    state: StreamState
    enhancement: Enhancement
    limits: StreamLimits

    model_config = {
        "json_schema_extra": {
            "examples": [{
                "id": "3f9a0c1e5b7d4a2e8c6f1b3d5a7e9c0b",
                "token": "q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6j7k8l9z0x1c",
                "playlist_url": "http://127.0.0.1:8333/sharpr/streams/3f9a0c1e5b7d4a2e8c6f1b3d5a7e9c0b/hls/index.m3u8",
                "state": "live",
                "enhancement": {"mode": "anime", "scale": 2, "dim_lift": False,
                                "color_vision": "none", "color_vision_strength": 1.0},
                "limits": {"clip_max_bytes": 67108864, "clip_max_seconds": 12.0,
                           "segment_seconds": 2.0, "upload_expiry_seconds": 300, "max_clips": 2000,
                           "stream_max_bytes": 4294967296},
            }]
        }
    }


class UploadRequest(BaseModel):
    seq: int = Field(ge=0, description="Clip number, 0 for the first clip of the stream.")
    ext: str = Field("webm", pattern="^(webm|mp4)$", description="Container of the clip.")

    model_config = {"json_schema_extra": {"examples": [{"seq": 0, "ext": "webm"}]}}


class UploadGrant(BaseModel):
    url: str = Field(description="POST a multipart form here: every field, then `file` last.")
    fields: dict[str, str]
    key: str
    expires_in: int
    max_bytes: int


class ClipRegistration(BaseModel):
    seq: int = Field(ge=0)
    key: str = Field(description="The object key the upload grant named.")

    model_config = {
        "json_schema_extra": {
            "examples": [{"seq": 0, "key": "streams/3f9a0c1e5b7d4a2e8c6f1b3d5a7e9c0b/input/000000.webm"}]
        }
    }


class StreamStatus(BaseModel):
    id: str
    state: StreamState
    playlist_url: str
    enhancement: Enhancement
    created_at: float
    source_url: str | None = None
    error: str | None = None
    clips: list[Clip]


class StopResult(BaseModel):
    id: str
    state: StreamState


class VideoRequest(Enhancement):
    url: HttpUrl = Field(description="A direct MP4/WebM/HLS URL or a YouTube page.")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"url": "https://example.com/clip.mp4", "mode": "anime"}]}
    )


class VideoAccepted(BaseModel):
    id: str
    token: str
    playlist_url: str
    original_playlist_url: str


class VideoUploadGrant(VideoAccepted, UploadGrant):
    """A new stream for a whole video, and where its browser uploads the file."""


class VideoIngesting(BaseModel):
    id: str
    state: StreamState
    playlist_url: str
    original_playlist_url: str


class ProcessVideoRequest(BaseModel):
    """The original project's endpoint body, kept for old clients."""

    video_url: HttpUrl


class ProcessVideoResult(BaseModel):
    stream_id: str
    playlist_url: str


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


def error_response(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The one shape of every refusal, from a route, a handler or a middleware."""
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)
