"""Downloads a finished HLS video (VOD) into one local file, every request through the Fetcher.

MPEG-TS segments are concatenated as they are (a TS stream may be cut and joined at packet
boundaries); fMP4 segments follow their `#EXT-X-MAP` init segment, which makes one valid
fragmented MP4. A master playlist is resolved to its highest-bandwidth variant. Encrypted
and live (no `#EXT-X-ENDLIST`) playlists are refused: the first needs keys we should not
fetch for others, the second never ends.
"""

import itertools
import logging
import re
from pathlib import Path
from urllib.parse import urljoin

from services.core.errors import Unprocessable
from services.ingest.fetch import Fetcher

log = logging.getLogger(__name__)

BANDWIDTH = re.compile(r"BANDWIDTH=(\d+)")
MAP_URI = re.compile(r'#EXT-X-MAP:.*URI="([^"]+)"')


def pick_variant(text: str, base: str) -> str | None:
    """The highest-bandwidth variant of a master playlist (RFC 8216 §4.3.4.2), or None."""
    best: tuple[int, str] | None = None
    lines = text.splitlines()
    for line, following in itertools.pairwise(lines):
        if line.startswith("#EXT-X-STREAM-INF"):
            match = BANDWIDTH.search(line)
            bandwidth = int(match[1]) if match else 0
            if best is None or bandwidth > best[0]:
                best = (bandwidth, urljoin(base, following.strip()))
    return best[1] if best else None


def media_parts(text: str, base: str) -> list[str]:
    """Absolute URLs of the init segment (if any) and the media segments, in order."""
    if "#EXT-X-ENDLIST" not in text:
        raise Unprocessable("the HLS video is live (no #EXT-X-ENDLIST); give a finished video",
                            code="unsupported_source")
    for line in text.splitlines():
        if line.startswith("#EXT-X-KEY") and "METHOD=NONE" not in line:
            raise Unprocessable("the HLS video is encrypted", code="unsupported_source")
    init = [urljoin(base, match[1]) for match in MAP_URI.finditer(text)][:1]
    segments = [urljoin(base, line.strip()) for line in text.splitlines()
                if line.strip() and not line.startswith("#")]
    if not segments:
        raise Unprocessable("the HLS playlist lists no segments", code="not_video")
    return init + segments


def download_hls(fetcher: Fetcher, url: str, dest: Path, headers: dict[str, str]) -> int:
    """Fetch the playlist (and its variant) and every part into `dest`; returns the size."""
    text = fetcher.read_text(url, headers)
    variant = pick_variant(text, url)
    if variant is not None:
        url, text = variant, fetcher.read_text(variant, headers)
    dest.write_bytes(b"")
    size = 0
    for part in media_parts(text, url):
        size = fetcher.download(part, dest, headers, append=True)
    log.info("hls source fetched url=%s bytes=%d", url, size)
    return size
