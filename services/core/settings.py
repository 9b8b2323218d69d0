"""The one settings class, read from `SHARPR_*` environment variables.

Every default runs the local stack (`sharpr up`) with no configuration; production
overrides the endpoints and secrets. Nothing else in the code base reads `os.environ`.
"""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, computed_field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_S3_SECRET = "sharpr-dev-secret"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHARPR_", env_ignore_empty=True)

    env: Literal["dev", "prod"] = "dev"
    log_level: str = "INFO"
    data_dir: Path = Path(".sharpr")

    redis_url: str = "redis://127.0.0.1:6379/0"

    # S3: endpoint None means AWS itself. `s3_public_url` is what browsers use to reach
    # the same server (playlists, segments, presigned uploads); it defaults to the endpoint.
    s3_endpoint_url: str | None = "http://127.0.0.1:8333"
    s3_public_url: str | None = None
    s3_bucket: str = "sharpr"
    s3_region: str = "us-east-1"
    s3_access_key: str = "sharpr"
    s3_secret_key: str = DEV_S3_SECRET
    # Browsers fetch public HLS objects and POST presigned uploads; both are safe from any
    # origin (reads are public, writes need a signed policy), and extension ids vary.
    s3_cors_origins: list[str] = Field(default=["*"])
    # Files over this size are uploaded in parts of this size, so an upload holds a few
    # parts in memory, never the whole file. S3 refuses parts under 5 MiB (but the last).
    s3_part_bytes: int = Field(8 * 1024 * 1024, ge=5 * 1024 * 1024)

    # The API as a browser reaches it, and who may call it from a page.
    public_base_url: str = "http://127.0.0.1:8000"
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # uvicorn worker processes behind `sharpr api`: one per core the API may use.
    api_workers: int = Field(default=1, ge=1)
    # Peers whose X-Forwarded-For `sharpr api` believes (addresses or networks, comma
    # separated; uvicorn's FORWARDED_ALLOW_IPS): the ingress or load balancer in front of it.
    # Everyone else's header is ignored; behind an unlisted proxy all clients share its
    # address and every per-address limit with it.
    api_forwarded_allow_ips: str = "127.0.0.1"
    cors_origins: list[str] = Field(
        default=["chrome-extension://*", "http://127.0.0.1:8000", "http://localhost:8000"]
    )

    # Clip and stream limits, enforced by the API and, for bytes, by S3 itself.
    clip_max_bytes: int = 64 * 1024 * 1024
    clip_max_seconds: float = 12.0
    # Frames over clip_max_pixels (up to 3840x2160) are scaled down to it before the model.
    clip_max_pixels: int = 1920 * 1080
    clip_max_fps: float = 120.0
    max_clips_per_stream: int = 2000
    # Bytes of clips one stream may upload: each grant holds clip_max_bytes until it
    # expires, then the registered clip's size (so it covers hours of typical capture).
    stream_max_bytes: int = 4 * 1024 * 1024 * 1024
    # How long a stream's Redis state outlives its last write: longer than the retention
    # plus the idle time (`_state_outlives_the_objects`).
    stream_ttl_seconds: int = 8 * 24 * 3600
    # Retention: a stream nobody stopped ends after `stream_idle_seconds` without a clip;
    # every object and key of a stream goes `retention_seconds` after it ended (or after
    # its last object, for objects whose Redis state is gone). The packager runs the sweep
    # that does both every `retention_sweep_seconds`.
    stream_idle_seconds: int = Field(30 * 60, ge=1)
    retention_seconds: int = Field(7 * 24 * 3600, ge=0)
    retention_sweep_seconds: int = Field(600, ge=1)
    upload_expiry_seconds: int = 300
    default_scale: int = 2

    # Abuse limits, per client address (as the API sees it) and per stream token; each
    # refusal is a JSON 4xx. Generous: the extension polls about once a second.
    request_max_bytes: int = 64 * 1024
    rate_limit_window_seconds: int = 60
    rate_limit_per_address: int = 6000
    rate_limit_per_token: int = 1200
    streams_per_address: int = 500
    streams_per_address_window_seconds: int = 3600
    # Open event streams (SSE): each holds a poll loop, so few per token and per address.
    events_per_token: int = Field(4, ge=1)
    events_per_address: int = Field(64, ge=1)

    # Packaging: segment length fixes #EXT-X-TARGETDURATION for every stream.
    segment_seconds: float = 2.0
    # Server-side ingest splits whole videos into clips of this length.
    clip_seconds: float = 10.0

    # Server-side ingest of a URL: limits, and hosts exempt from the private-address
    # refusal (names, IPs or CIDRs; tests allow loopback).
    ingest_allow_hosts: list[str] = Field(default=[])
    ingest_max_bytes: int = 1024 * 1024 * 1024
    ingest_max_seconds: float = 3 * 3600.0
    ingest_timeout_seconds: float = 30.0
    # All the fetching of one ingest job (or one live follower run) together: a server that
    # trickles a byte per read is cut off here, not at the job's hours-long timeout.
    ingest_fetch_seconds: float = 3600.0
    ingest_max_redirects: int = 5

    # Following a live HLS source: its playlists keep the last `live_window_seconds` (older
    # segments leave them); past `live_max_delay_seconds` behind the source the follower
    # skips to the live edge; a source with no new segment for `live_stall_target_durations`
    # of its target durations ends the stream (`source_stalled`), as does
    # `live_max_seconds` of following (`live_too_long`). A window never keeps less than three
    # target durations (RFC 8216 §6.2.2), whatever the setting.
    live_window_seconds: float = Field(600.0, ge=10.0)
    live_max_delay_seconds: float = Field(60.0, gt=0.0)
    live_stall_target_durations: int = Field(6, ge=2)
    live_max_seconds: float = Field(4 * 3600.0, gt=0.0)

    # Worker: inference backend and H.264 encoder preset.
    backend: Literal["auto", "torch", "tensorrt"] = "auto"
    encoder_preset: str = "veryfast"
    # A frame whose 8x8 block means all stay within this many levels (0-255) of the last
    # frame the model ran on reuses that frame's output (services/worker/repeats.py).
    skip_repeated_frames: bool = True
    repeated_frame_threshold: float = Field(6.0, ge=0.0)
    job_timeout_seconds: int = 900
    # A worker renews its claim on the running clip every quarter of this; once a claim is
    # this old (the worker was killed or lost) another worker's cleanup retries the clip.
    worker_ttl_seconds: int = Field(60, ge=16)
    # Models a worker loads and measures at start; a stream of another mode warms its
    # model when it is created with a capture size (or loads it with its first clip).
    warm_modes: list[Literal["anime", "live_action"]] = Field(default=["anime"])
    # CPU priority (nice increment) of a worker process: `sharpr up` sets 10 so the API,
    # the packager and the user's browser on the same machine stay responsive.
    worker_nice: int = Field(0, ge=0, le=19)
    # A worker's throughput drops out of the fleet's capacity after this long unheard.
    capacity_stale_seconds: int = Field(180, ge=10)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def s3_browser_url(self) -> str:
        """Base URL of the bucket as a browser sees it (path-style)."""
        base = self.s3_public_url or self.s3_endpoint_url
        if base is None:
            base = f"https://s3.{self.s3_region}.amazonaws.com"
        return f"{base.rstrip('/')}/{self.s3_bucket}"

    @model_validator(mode="after")
    def _public_url_follows_the_port(self) -> "Settings":
        """Unset, the public URL is this machine's API at its port: `SHARPR_API_PORT=9000`
        alone then gives links (and `sharpr up`'s banner) that work."""
        if "public_base_url" not in self.model_fields_set:
            self.public_base_url = f"http://127.0.0.1:{self.api_port}"
        return self

    @model_validator(mode="after")
    def _state_outlives_the_objects(self) -> "Settings":
        """A stream's Redis record must last as long as its objects: expired first (it was
        24 h against 7 days of objects), its token routes answered 404 while its playlist
        still played, and only a listing of the whole bucket could find the objects."""
        floor = self.retention_seconds + self.stream_idle_seconds
        if self.stream_ttl_seconds <= floor:
            raise ValueError(
                f"SHARPR_STREAM_TTL_SECONDS ({self.stream_ttl_seconds}) must exceed SHARPR_RETENTION_SECONDS "
                f"plus SHARPR_STREAM_IDLE_SECONDS ({floor}): a stream's state must outlive its objects"
            )
        return self

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_prod(self) -> "Settings":
        if self.env == "prod" and self.s3_secret_key == DEV_S3_SECRET:
            raise ValueError("SHARPR_S3_SECRET_KEY must be set when SHARPR_ENV=prod")
        return self


@lru_cache
def get_settings() -> Settings:
    """The process's settings; tests clear the cache after changing the environment."""
    return Settings()
