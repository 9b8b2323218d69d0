"""The HLS media playlist's text (RFC 8216), rendered from its segments: the packager's
enhanced playlist and the ingest's original one alike. Pure functions only.
"""

import math

from services.core.playlist_record import Segment

# §7: floating-point EXTINF durations need protocol version 3; MPEG-TS segments need
# nothing newer (no EXT-X-MAP, which would need version 6 with fMP4).
PROTOCOL_VERSION = 3


class SegmentTooLong(ValueError):
    """A segment would break the fixed target duration (§4.3.3.1)."""


def target_duration(segment_seconds: float) -> int:
    """EXT-X-TARGETDURATION for a stream cut into segments of about `segment_seconds`.

    §6.2.1 forbids changing it once published, so it comes from the configuration, not
    from the segments; one second of headroom absorbs keyframes that land a frame late.
    """
    return math.ceil(segment_seconds) + 1


def check_segments(segments: list[Segment], target: int) -> None:
    """§4.3.3.1: every EXTINF duration, rounded to the nearest integer, <= the target."""
    for segment in segments:
        # Round half up, as the RFC means "nearest integer" (Python's round() is banker's).
        if math.floor(segment.duration + 0.5) > target:
            raise SegmentTooLong(
                f"segment {segment.uri} lasts {segment.duration:.3f}s, "
                f"over the target duration of {target}s"
            )


def render_playlist(segments: list[Segment], *, target: int, ended: bool) -> str:
    """The whole media playlist, EVENT while live, closed with ENDLIST once `ended`."""
    check_segments(segments, target)
    lines = [
        "#EXTM3U",  # §4.3.1.1: the first line of every playlist
        f"#EXT-X-VERSION:{PROTOCOL_VERSION}",  # §4.3.1.2
        f"#EXT-X-TARGETDURATION:{target}",  # §4.3.3.1
        "#EXT-X-MEDIA-SEQUENCE:0",  # §4.3.3.2: segments are only appended, never removed
        # §4.3.3.5 / §6.2.1: EVENT lets the player know nothing is removed; kept after
        # ENDLIST too, since the type of a published playlist must not change.
        "#EXT-X-PLAYLIST-TYPE:EVENT",
    ]
    for segment in segments:
        if segment.discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")  # §4.3.2.3: before the first changed segment
        lines.append(f"#EXTINF:{segment.duration:.6f},")  # §4.3.2.1: decimal-floating-point
        lines.append(segment.uri)
    if ended:
        lines.append("#EXT-X-ENDLIST")  # §4.3.3.4: no more segments will be added
    return "\n".join(lines) + "\n"
