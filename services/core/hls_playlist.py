"""The HLS media playlist's text (RFC 8216), rendered from its segments: the packager's
enhanced playlist and the ingest's original one alike, and the window a sliding playlist
keeps. Pure functions only.
"""

import math

from services.core.playlist_record import PlaylistRecord, Segment

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


def render_playlist(
    segments: list[Segment],
    *,
    target: int,
    ended: bool,
    media_sequence: int = 0,
    discontinuity_sequence: int = 0,
    sliding: bool = False,
) -> str:
    """The whole media playlist, closed with ENDLIST once `ended`.

    Not `sliding`: an EVENT playlist, whose segments are only ever appended. `sliding`: no
    playlist type, so old segments may leave it; `media_sequence` is the sequence number
    of its first segment and `discontinuity_sequence` counts the discontinuities removed.
    """
    check_segments(segments, target)
    if not sliding and (media_sequence or discontinuity_sequence):
        raise ValueError("an EVENT playlist removes no segment (§4.3.3.5): its sequences stay 0")
    lines = [
        "#EXTM3U",  # §4.3.1.1: the first line of every playlist
        f"#EXT-X-VERSION:{PROTOCOL_VERSION}",  # §4.3.1.2
        f"#EXT-X-TARGETDURATION:{target}",  # §4.3.3.1
        f"#EXT-X-MEDIA-SEQUENCE:{media_sequence}",  # §4.3.3.2: the first segment's number
    ]
    if sliding:
        # §4.3.3.3: before the first segment; §6.2.2 requires it once a segment with an
        # EXT-X-DISCONTINUITY tag was removed, and writing it from the start costs nothing.
        # No EXT-X-PLAYLIST-TYPE: §4.3.3.5 EVENT forbids removing segments, and §6.2.1 the
        # type changing once published, so a sliding playlist has none from its first write.
        lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuity_sequence}")
    else:
        # §4.3.3.5 / §6.2.1: EVENT lets the player know nothing is removed; kept after
        # ENDLIST too, since the type of a published playlist must not change.
        lines.append("#EXT-X-PLAYLIST-TYPE:EVENT")
    for segment in segments:
        if segment.discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")  # §4.3.2.3: before the first changed segment
        lines.append(f"#EXTINF:{segment.duration:.6f},")  # §4.3.2.1: decimal-floating-point
        lines.append(segment.uri)
    if ended:
        lines.append("#EXT-X-ENDLIST")  # §4.3.3.4: no more segments will be added
    return "\n".join(lines) + "\n"


def slide(segments: list[Segment], *, keep_seconds: float, target: int) -> tuple[list[Segment], int, int]:
    """The window a sliding playlist keeps: the oldest segments leave while the rest still
    last `keep_seconds`. Returns (kept, segments removed, EXT-X-DISCONTINUITY tags removed):
    the media sequence advances by the second (§4.3.3.2), the discontinuity sequence by
    the third (§4.3.3.3, §6.2.2).
    """
    # §6.2.2: a playlist without ENDLIST never lasts less than three target durations.
    keep = max(keep_seconds, 3 * target)
    removed = 0
    # fsum: a window of whole segments ends exactly at `keep`, not a rounding error short.
    while removed < len(segments) and math.fsum(s.duration for s in segments[removed + 1:]) >= keep:
        removed += 1
    gone = segments[:removed]
    return segments[removed:], removed, sum(s.discontinuity for s in gone)


def slid(record: PlaylistRecord, *, keep_seconds: float, target: int) -> PlaylistRecord:
    """`record` with its window slid (`slide`) and its sequences advanced to match."""
    kept, removed, discontinuities = slide(record.segments, keep_seconds=keep_seconds, target=target)
    return record.model_copy(update={
        "segments": kept,
        "media_sequence": record.media_sequence + removed,
        "discontinuity_sequence": record.discontinuity_sequence + discontinuities,
    })
