"""Pydantic models of a stream and its clips, as stored in Redis and shown by the API."""

from enum import StrEnum

from pydantic import BaseModel, Field


class Mode(StrEnum):
    anime = "anime"
    live_action = "live_action"
    auto = "auto"  # the worker picks anime or live_action per clip from its first frames


class Tier(StrEnum):
    """How heavy a network: the teacher we ship, or a faster network distilled from it."""

    auto = "auto"  # chosen per clip: by the client from the fleet's capacity, else quality
    quality = "quality"
    balanced = "balanced"
    fast = "fast"


# Best first: the order a client gives way in when the fleet cannot keep up.
TIERS = (Tier.quality, Tier.balanced, Tier.fast)


class ColorVision(StrEnum):
    none = "none"
    protanopia = "protanopia"
    deuteranopia = "deuteranopia"
    tritanopia = "tritanopia"


class StreamState(StrEnum):
    live = "live"
    ending = "ending"
    ended = "ended"
    failed = "failed"


class ClipState(StrEnum):
    queued = "queued"
    upscaling = "upscaling"
    encoded = "encoded"
    packaged = "packaged"
    failed = "failed"


class Enhancement(BaseModel):
    """What is done to every frame of a stream."""

    mode: Mode = Field(Mode.anime, description="Content type: picks the model.")
    scale: int = Field(2, ge=2, le=4, description="Output size over input size.")
    tier: Tier = Field(
        Tier.auto,
        description="Network weight: quality (the teacher), balanced, fast, or auto (the client "
        "picks per clip from the fleet's capacity; a whole file gets quality).",
    )
    dim_lift: bool = Field(False, description="Lift dark scenes before the model sees them.")
    color_vision: ColorVision = Field(ColorVision.none, description="Daltonize for a viewer type.")
    color_vision_strength: float = Field(1.0, ge=0.0, le=1.0)


class Size(BaseModel):
    width: int
    height: int


class Capture(BaseModel):
    """The frame size and rate a client records at, announced when it creates a stream."""

    width: int = Field(ge=16, le=3840, description="Captured width in pixels.")
    height: int = Field(ge=16, le=3840, description="Captured height in pixels.")
    fps: float = Field(gt=0, le=240, description="Captured frames per second.")


class Stream(BaseModel):
    id: str
    token_hash: str
    enhancement: Enhancement
    capture: Capture | None = None
    state: StreamState = StreamState.live
    created_at: float
    source_url: str | None = None
    live_source: bool = Field(
        False, description="Follows a live HLS source: its playlists slide once past the live window.",
    )
    error: str | None = Field(
        None, description="`code: message`: why it failed, or why an ended stream ended early.",
    )


class ClipPart(BaseModel):
    """One segment's worth of an upscaled clip, published the moment it was encoded."""

    n: int = Field(ge=0)
    start: float = Field(description="Seconds from the clip's start.")
    enhanced: bool = Field(True, description="False: upscaled by the plain resize after the model failed.")
    published_at: float


class Clip(BaseModel):
    stream_id: str
    seq: int
    key: str
    etag: str | None = Field(
        None, description="The uploaded object's ETag at registration: the worker reads only that object.",
    )
    state: ClipState = ClipState.queued
    frames_done: int = 0
    frames_total: int | None = None
    frames_skipped: int = Field(0, description="Frames that repeated the one before and reused its output.")
    discontinuity: bool = Field(
        False, description="The source jumped before this clip (skipped ahead or restarted).",
    )
    parts_done: int = Field(0, description="Segments of the clip published so far, each as soon as it was encoded.")
    duration: float | None = Field(None, description="Seconds of upscaled video, once encoded.")
    width: int | None = None
    height: int | None = None
    degraded: bool = Field(False, description="Upscaled by the plain resize, not the model.")
    tier: Tier | None = Field(
        None, description="The network tier: the one the client chose for the clip, then the one it ran at.",
    )
    timings: dict[str, float] = Field(default_factory=dict)
    error_code: str | None = None
    error: str | None = None
    updated_at: float = 0.0

    @property
    def done(self) -> bool:
        """Nothing more will happen to this clip before packaging."""
        return self.state in (ClipState.encoded, ClipState.packaged, ClipState.failed)
