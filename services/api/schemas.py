"""Request and response bodies of the v1 API, with the examples shown at /docs."""

from collections.abc import Mapping

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

from services.core.capacity import FleetRate
from services.core.schemas import Capture, Clip, Enhancement, Size, StreamState, Tier


class StreamLimits(BaseModel):
    clip_max_bytes: int
    clip_max_seconds: float
    segment_seconds: float
    upload_expiry_seconds: int
    max_clips: int
    stream_max_bytes: int = Field(description="Clip bytes the stream may upload in all.")


class StreamRequest(Enhancement):
    capture: Capture | None = Field(
        None, description="The size and frame rate the client records at; fixes the output size "
                          "(scale x capture, fitted under clip_max_pixels) and warms the model for it.",
    )

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"mode": "anime", "scale": 2, "capture": {"width": 426, "height": 240, "fps": 30}},
    ]})

    def enhancement(self) -> Enhancement:
        return Enhancement.model_validate(self.model_dump(exclude={"capture"}))


class StreamCreated(BaseModel):
    id: str
    token: str = Field(description="Secret for every later call on this stream; shown once.")
    playlist_url: str
    state: StreamState
    enhancement: Enhancement
    limits: StreamLimits
    output: Size | None = Field(
        None, description="Size of every enhanced frame; null until the first clip fixes it.",
    )

    model_config = {
        "json_schema_extra": {
            "examples": [{
                "id": "3f9a0c1e5b7d4a2e8c6f1b3d5a7e9c0b",
                "token": "q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6j7k8l9z0x1c",
                "playlist_url": "http://127.0.0.1:8333/sharpr/streams/3f9a0c1e5b7d4a2e8c6f1b3d5a7e9c0b/hls/index.m3u8",
                "state": "live",
                "enhancement": {"mode": "anime", "scale": 2, "tier": "auto", "dim_lift": False,
                                "color_vision": "none", "color_vision_strength": 1.0},
                "limits": {"clip_max_bytes": 67108864, "clip_max_seconds": 12.0,
                           "segment_seconds": 2.0, "upload_expiry_seconds": 300, "max_clips": 2000,
                           "stream_max_bytes": 4294967296},
                "output": {"width": 852, "height": 480},
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
    tier: Tier | None = Field(
        None, description="The tier the client chose for this clip from GET /v1/capacity (quality, "
                          "balanced or fast); used when the stream's tier is auto.",
    )

    @field_validator("tier")
    @classmethod
    def _concrete(cls, tier: Tier | None) -> Tier | None:
        if tier == Tier.auto:
            raise ValueError("a clip runs at one tier: quality, balanced or fast")
        return tier

    model_config = {
        "json_schema_extra": {
            "examples": [{"seq": 0, "key": "streams/3f9a0c1e5b7d4a2e8c6f1b3d5a7e9c0b/input/000000.webm"}]
        }
    }


class LiveStatus(BaseModel):
    """How following a live source goes."""

    following: bool = Field(description="Still taking new segments from the source.")
    segments_taken: int
    seconds_taken: float
    segments_missing: int = Field(description="Segments the source listed but that could not be had (404).")
    skipped_seconds: float = Field(description="Source seconds skipped to catch up when the fleet fell behind.")
    delay_seconds: float | None = Field(
        None, description="Seconds from a segment appearing at the source to its enhanced clip in the "
                          "playlist, for the newest enhanced clip.",
    )
    original_playlist_url: str


class StreamStatus(BaseModel):
    id: str
    state: StreamState
    playlist_url: str
    enhancement: Enhancement
    created_at: float
    source_url: str | None = None
    error: str | None = None
    capture: Capture | None = None
    output: Size | None = None
    live: LiveStatus | None = Field(None, description="Set when the stream follows a live source.")
    clips: list[Clip]


class CapacityInfo(BaseModel):
    """What the fleet keeps up with, for a client choosing its capture size and frame rate."""

    ladder: list[int] = Field(description="Capture heights to choose from; width follows the video's aspect.")
    clip_max_pixels: int = Field(description="Larger frames are scaled down to this before the model.")
    clip_max_fps: float
    fleet: list[FleetRate] = Field(
        description="Input pixels per second the live workers process, per mode, tier and scale; empty "
                    "until one has measured.",
    )

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "ladder": [144, 240, 360, 480, 720, 1080], "clip_max_pixels": 2073600, "clip_max_fps": 120.0,
        "fleet": [{"mode": "anime", "tier": "fast", "scale": 2, "input_pixels_per_second": 1250000.0,
                   "workers": 1}],
    }]})


class StopResult(BaseModel):
    id: str
    state: StreamState


class DownloadLink(BaseModel):
    url: str = Field(description="A presigned GET of the whole enhanced MP4; it carries no stream token.")
    expires_in: int = Field(description="Seconds the link may be started within.")


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
