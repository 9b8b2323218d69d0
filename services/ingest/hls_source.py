"""Downloads a finished HLS video (VOD) into one local file, every request through the Fetcher.

The playlists are read with the `m3u8` library. MPEG-TS segments are concatenated as they
are (a TS stream may be cut and joined at packet boundaries); fMP4 segments follow their
`#EXT-X-MAP` init segment, written again wherever the map changes, as FFmpeg's own HLS
reader feeds them. `#EXT-X-BYTERANGE` segments are fetched as HTTP ranges. A master playlist
is resolved to its highest-bandwidth variant. Encrypted and live (no `#EXT-X-ENDLIST`)
playlists are refused: the first needs keys we should not fetch for others, the second
never ends.
"""

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import m3u8

from services.core.errors import Unprocessable
from services.ingest.fetch import Fetcher

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Part:
    """What to append to the local file next: a whole resource, or the `(offset, length)`
    bytes of it."""

    url: str
    byte_range: tuple[int, int] | None = None

    @property
    def end(self) -> int | None:
        return None if self.byte_range is None else sum(self.byte_range)


def parse(text: str, url: str) -> m3u8.M3U8:
    """The playlist at `url`, its URIs resolved against it; `unsupported_source` if m3u8
    cannot read it."""
    try:
        return m3u8.loads(text, uri=url)
    except Exception as error:  # m3u8 fails by whatever its parser meets (KeyError, ValueError...)
        raise Unprocessable(
            f"the HLS playlist cannot be read: {error!r}", code="unsupported_source"
        ) from error


def pick_variant(text: str, base: str) -> str | None:
    """The highest-bandwidth variant of a master playlist (RFC 8216 §4.3.4.2), or None."""
    playlist = parse(text, base)
    if not playlist.is_variant:
        return None
    best = max(playlist.playlists, key=lambda variant: variant.stream_info.bandwidth or 0)
    return best.absolute_uri


def media_parts(text: str, base: str) -> list[Part]:
    """The init sections and media segments of a media playlist, in the order to append them."""
    playlist = parse(text, base)
    if not playlist.is_endlist:
        raise Unprocessable(
            "the HLS video is live (no #EXT-X-ENDLIST); give a finished video",
            code="unsupported_source",
        )
    refuse_encrypted(playlist)
    parts: list[Part] = []
    last_init: Part | None = None
    for _, init, part in segment_parts(playlist):
        if init is not None and init != last_init:
            parts.append(init)
            last_init = init
        parts.append(part)
    if not parts:
        raise Unprocessable("the HLS playlist lists no segments", code="not_video")
    return parts


def refuse_encrypted(playlist: m3u8.M3U8) -> None:
    """`source_encrypted` if any segment is under an `#EXT-X-KEY` other than `METHOD=NONE`:
    its keys are not ours to fetch."""
    if any(key is not None and (key.method or "").upper() != "NONE" for key in playlist.keys):
        raise Unprocessable("the HLS video is encrypted", code="source_encrypted")


def segment_parts(playlist: m3u8.M3U8) -> Iterator[tuple[m3u8.Segment, Part | None, Part]]:
    """Each whole segment of a media playlist with its init section (None without
    `#EXT-X-MAP`) and its own part. Low-latency parts ahead of the next whole segment
    (m3u8 gathers them in a last segment without a URI) are left out."""
    previous: Part | None = None
    for segment in playlist.segments:
        if segment.uri is None:
            continue
        init = None
        if (section := segment.init_section) is not None:
            # A map's byte range without an offset starts at the resource's first byte.
            init = _ranged(section.absolute_uri, section.byterange, follows=0)
        # A segment's range without an offset follows the previous segment's range (§4.3.2.2).
        follows = (
            previous.end if previous is not None and previous.url == segment.absolute_uri else None
        )
        previous = _ranged(segment.absolute_uri, segment.byterange, follows)
        yield segment, init, previous


def _ranged(url: str, byterange: str | None, follows: int | None) -> Part:
    """`url` with its `n[@o]` byte range, if any; `follows` is where a range without `@o`
    starts (None: such a range is an error)."""
    if not byterange:
        return Part(url)
    length, _, offset = byterange.partition("@")
    if not length.isdigit() or not (offset or "0").isdigit():
        raise Unprocessable(
            f"the HLS byte range {byterange!r} is not n[@o]", code="unsupported_source"
        )
    if offset:
        return Part(url, (int(offset), int(length)))
    if follows is None:
        raise Unprocessable(
            "an HLS byte range has no offset and follows no range of its resource",
            code="unsupported_source",
        )
    return Part(url, (follows, int(length)))


def download_hls(fetcher: Fetcher, url: str, dest: Path, headers: dict[str, str]) -> int:
    """Fetch the playlist (and its variant) and every part into `dest`; returns the size."""
    text = fetcher.read_text(url, headers)
    variant = pick_variant(text, url)
    if variant is not None:
        url, text = variant, fetcher.read_text(variant, headers)
    dest.write_bytes(b"")
    size = 0
    for part in media_parts(text, url):
        size = fetcher.download(part.url, dest, headers, append=True, byte_range=part.byte_range)
    log.info("event=hls_source_fetched url=%s bytes=%d", url, size)
    return size
