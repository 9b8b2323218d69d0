"""Finds the media file behind a URL (a direct file, or a page such as YouTube's) with yt-dlp.

yt-dlp is used as a library, `extract_info(download=False)`, and only to learn which URL
holds the video; the download itself is the `Fetcher`'s. yt-dlp's own HTTP goes through
the `Fetcher` too (`GuardedRH` is its only request handler), so an extractor can no more
reach a private address than the download can, redirects included.
"""

import io
import logging
from dataclasses import dataclass
from typing import Any

import httpx
from yt_dlp import YoutubeDL
from yt_dlp.networking.common import Request, RequestDirector, RequestHandler, Response
from yt_dlp.networking.exceptions import HTTPError, RequestError
from yt_dlp.utils import YoutubeDLError

from services.core.errors import SharprError, Unprocessable
from services.ingest.fetch import Fetcher

log = logging.getLogger(__name__)

# One file holding both tracks, fetched over plain HTTP(S), else an HLS rendition that
# `hls_source` fetches part by part (DASH would need yt-dlp's own downloader, outside the
# guard). Last, an HLS video rendition whose sound is in another: without it yt-dlp
# refuses such a source as "not available", where it is to be refused by its own code,
# `source_audio_separate` (by `live_start` for a live one, here for a whole video).
FORMAT = "best[protocol^=http][vcodec!=none]/best[protocol^=http]/best[protocol^=m3u8]/bv*[protocol^=m3u8]"
DIRECT_PROTOCOLS = ("http", "https")
HLS_PROTOCOLS = ("m3u8", "m3u8_native")


@dataclass(frozen=True)
class MediaSource:
    url: str
    headers: dict[str, str]
    duration: float | None
    hls: bool = False  # `url` is an HLS playlist, not a file
    live: bool = False  # a live stream: followed, not downloaded (`live_start`)
    manifest_url: str | None = None  # the master playlist `url` was chosen from, if any
    formats: tuple[dict[str, Any], ...] = ()  # every format yt-dlp found, for a live one


# yt-dlp reads whole pages and manifests into memory: far less than a video is enough.
PAGE_MAX_BYTES = 32 * 1024 * 1024


class _BodyReader(io.RawIOBase):
    """A streaming httpx body as the file object yt-dlp's `Response` wraps: capped at
    PAGE_MAX_BYTES and read by the Fetcher's deadline."""

    def __init__(self, response: httpx.Response, handler: "GuardedRH") -> None:
        self.response, self.handler = response, handler
        self.chunks = handler.fetcher.chunks(response, limit=PAGE_MAX_BYTES)
        self.pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self.pending:
            try:
                self.pending = next(self.chunks, b"")
            except SharprError as error:  # kept, as for a refused request: yt-dlp rewords it
                self.handler.refusal = error
                raise
        size = min(len(buffer), len(self.pending))
        buffer[:size] = self.pending[:size]
        self.pending = self.pending[size:]
        return size

    def close(self) -> None:
        self.response.close()
        super().close()


class GuardedRH(RequestHandler):
    """yt-dlp request handler that sends everything through a `Fetcher`."""

    _SUPPORTED_URL_SCHEMES = ("http", "https")
    _SUPPORTED_PROXY_SCHEMES = None  # proxies are ignored: the Fetcher never uses one
    _SUPPORTED_FEATURES = None
    fetcher: Fetcher
    refusal: SharprError | None = None

    def _check_extensions(self, extensions: dict[str, Any]) -> None:
        super()._check_extensions(extensions)
        for name in ("cookiejar", "timeout", "legacy_ssl", "keep_header_casing"):
            extensions.pop(name, None)

    def _send(self, request: Request) -> Response:
        try:
            response = self.fetcher.open(
                request.url, method=request.method, headers=self._get_headers(request),
                content=request.data if isinstance(request.data, bytes) else None,
            )
        except SharprError as error:
            # Kept so the ingest job reports our code, not yt-dlp's rewording of it.
            self.refusal = error
            raise RequestError(error.message, cause=error) from error
        wrapped = Response(
            fp=io.BufferedReader(_BodyReader(response, self)), url=str(response.url),
            headers=dict(response.headers), status=response.status_code,
        )
        if response.status_code >= 400:
            raise HTTPError(wrapped)
        return wrapped


class _GuardedYoutubeDL(YoutubeDL):
    def __init__(self, params: dict[str, Any], fetcher: Fetcher) -> None:
        self._fetcher = fetcher
        self.guard: GuardedRH | None = None
        super().__init__(params)

    def build_request_director(self, handlers: Any, preferences: Any = None) -> RequestDirector:
        """Only `GuardedRH`, whatever yt-dlp registered (urllib, requests, websockets)."""
        director = super().build_request_director([GuardedRH])
        (self.guard,) = director.handlers.values()
        self.guard.fetcher = self._fetcher
        return director


def find_media(url: str, fetcher: Fetcher, timeout: float) -> MediaSource:
    """The URL of the video file `url` stands for, with the headers it must be fetched with."""
    params = {
        "quiet": True, "no_warnings": True, "noplaylist": True, "skip_download": True,
        "format": FORMAT, "socket_timeout": timeout, "logger": _QuietLogger(),
        "cachedir": False,
    }
    with _GuardedYoutubeDL(params, fetcher) as ydl:
        try:
            info = ydl.extract_info(url, download=False)
        except YoutubeDLError as error:  # DownloadError, or a RequestError let through
            if ydl.guard is not None and ydl.guard.refusal is not None:
                raise ydl.guard.refusal from error
            raise Unprocessable(f"no video found at {url}: {_reason(error)}", code="not_video") from error
    if info is None or not info.get("url"):
        raise Unprocessable(f"no single video file at {url}", code="not_video")
    protocol = info.get("protocol", "https")
    if protocol not in DIRECT_PROTOCOLS + HLS_PROTOCOLS:
        raise Unprocessable(
            f"the video at {url} is only offered as {info.get('protocol')}", code="unsupported_source"
        )
    log.info("event=media_found url=%s extractor=%s format=%s", url, info.get("extractor"), info.get("format_id"))
    live = bool(info.get("is_live"))
    formats = info.get("formats") or ()
    if not live and info.get("acodec") == "none" and any(_audio_only(fmt) for fmt in formats):
        raise Unprocessable(f"the video at {url} has its sound only in a separate rendition",
                            code="source_audio_separate")
    return MediaSource(
        url=info["url"], headers=dict(info.get("http_headers") or {}), duration=info.get("duration"),
        hls=protocol in HLS_PROTOCOLS, live=live, manifest_url=info.get("manifest_url"),
        formats=tuple(formats) if live else (),
    )


def _audio_only(fmt: dict[str, Any]) -> bool:
    return fmt.get("vcodec") == "none" and fmt.get("acodec") != "none"


def _reason(error: YoutubeDLError) -> str:
    return str(error).removeprefix("ERROR: ")


class _QuietLogger:
    """yt-dlp's messages go to our log, not to stdout."""

    def debug(self, message: str) -> None:
        log.debug("event=ytdlp_message message=%r", message)

    def info(self, message: str) -> None:
        log.debug("event=ytdlp_message message=%r", message)

    def warning(self, message: str) -> None:
        log.info("event=ytdlp_message message=%r", message)

    def error(self, message: str) -> None:
        log.info("event=ytdlp_message message=%r", message)
