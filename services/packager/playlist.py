"""The stream's media playlist as data, and the rules for growing it (RFC 8216).

Pure functions only: the playlist record and the clips' states in, a plan or m3u8 text
out. The record itself is core's (`services.core.playlist_record`); writing S3 is the
job's business (`services.packager.jobs`).
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from services.core.playlist_record import Segment
from services.core.schemas import ClipState

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


class Action(StrEnum):
    package = "package"  # publish its remaining parts; the clip is then done
    partial = "partial"  # publish the parts out so far; the clip is still being encoded
    skip = "skip"  # publish the parts it has (a failed clip keeps them) and go past it


@dataclass(frozen=True)
class Step:
    seq: int
    action: Action
    parts: int = 0  # parts of the clip published by the worker, all to be in the playlist


@dataclass(frozen=True)
class Plan:
    """Clips to handle now, in order, and whether the playlist is then complete."""

    steps: tuple[Step, ...]
    complete: bool

    def next_seq(self, current: int) -> int:
        if not self.steps:
            return current
        last = self.steps[-1]
        return last.seq if last.action == Action.partial else last.seq + 1


def plan_packaging(
    next_seq: int, clips: Mapping[int, ClipState], *, ending: bool,
    parts: Mapping[int, int] | None = None,
) -> Plan:
    """The contiguous run of clips, and of parts within a clip, publishable from `next_seq`.

    Segments are only ever appended (§6.2.1), so a clip that finished early waits for
    the ones before it, and a clip's parts come in order (`parts`: how many the worker
    has published per clip). An encoded clip is packaged; a failed one contributes the
    parts it got out; a clip still in the worker contributes its parts so far and stops
    the run. A missing seq stops the run while the stream is live (its upload may still
    come), but once the stream is ending no new clip can be registered, so a gap below
    the highest registered seq is skipped and nothing stalls.
    """
    parts = parts or {}
    last = max(clips, default=-1)
    steps: list[Step] = []
    seq = next_seq
    while seq <= last:
        state, ready = clips.get(seq), parts.get(seq, 0)
        if state is None:
            if not ending:
                break
            steps.append(Step(seq, Action.skip))
        elif state in (ClipState.encoded, ClipState.packaged):
            # Packaged at or after next_seq: the packager died after writing the playlist
            # but before saving its state; the clip is packaged again with the same keys.
            steps.append(Step(seq, Action.package, ready))
        elif state == ClipState.failed:
            steps.append(Step(seq, Action.skip, ready))
        else:
            if ready:
                steps.append(Step(seq, Action.partial, ready))
            break
        seq += 1
    return Plan(steps=tuple(steps), complete=ending and seq > last)
