"""MPEG-TS media segments on a stream's timeline, remuxed from an MP4: a whole clip cut at
its keyframes (`segment_clip`), or one part the worker published, which is one segment
already (`remux_part`).

Why MPEG-TS and not fMP4: each clip is encoded on its own, so its MP4 timestamps restart
near 0. Per-clip fMP4 segments would need either a discontinuity (and a new `#EXT-X-MAP`)
at every clip, or one init segment shared by the whole stream with every fragment's
`tfdt` rewritten to the stream's timeline, which breaks as soon as two clips differ in
codec parameters. A TS segment carries its own PAT/PMT and absolute 90 kHz PTS/DTS, so
shifting each packet by the clip's offset makes clip n start exactly where clip n-1 ended
and the playlist needs no discontinuity (RFC 8216 §3.2, §6.2.2).

Nothing is re-encoded: packets are copied, split at video keyframes.
"""

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from services.core import keys
from services.media.remux import RemuxOutput, RemuxSource, shift

# Added to every timestamp of every clip: B-frames give the first packets a negative DTS
# and AAC priming a negative PTS; the TS muxer would shift (and so misalign) a clip whose
# timestamps go below zero. Ten seconds is far beyond any encoder delay.
BASE_SECONDS = Fraction(10)
# Keyframes forced on the segment grid may land up to a frame early after rounding to
# the frame rate; a keyframe this close to a grid line still starts a segment there.
CUT_TOLERANCE_SECONDS = Fraction(1, 10)


@dataclass(frozen=True)
class SegmentFile:
    """One written segment: `start` and `duration` in seconds on the clip's own timeline."""

    index: int
    name: str
    path: Path
    start: float
    duration: float


@dataclass(frozen=True)
class SegmentedClip:
    segments: list[SegmentFile]
    duration: float


def segment_clip(
    source: Path, out_dir: Path, *, seq: int, offset: float, segment_seconds: float
) -> SegmentedClip:
    """Split `source` into `keys.segment_name(seq, n)` files in `out_dir`.

    Every timestamp is shifted so the clip's first video frame lands at
    `BASE_SECONDS + offset`. Segments start at the first video keyframe at or after each
    multiple of `segment_seconds`; their durations come from the video timestamps.
    """
    starts, duration = _remux(
        source, offset, Fraction(segment_seconds), lambda n: out_dir / keys.segment_name(seq, n)
    )
    ends = [*starts[1:], duration]
    segments = [
        SegmentFile(
            index=index,
            name=keys.segment_name(seq, index),
            path=out_dir / keys.segment_name(seq, index),
            start=float(at),
            duration=float(stop - at),
        )
        for index, (at, stop) in enumerate(zip(starts, ends))
    ]
    return SegmentedClip(segments=segments, duration=float(duration))


def remux_part(source: Path, dest: Path, *, offset: float) -> float:
    """Copy one part (an MP4 that starts at a keyframe) into the TS segment `dest`, its
    first video frame at `BASE_SECONDS + offset`; returns its video duration in seconds."""
    _, duration = _remux(source, offset, None, lambda _: dest)
    return float(duration)


def _remux(
    source: Path, offset: float, grid: Fraction | None, path_of: Callable[[int], Path]
) -> tuple[list[Fraction], Fraction]:
    """Copy `source` into TS files `path_of(n)`, a new one at the first keyframe on or past
    each multiple of `grid` (never, without a grid); returns (each file's start, the
    video's duration), both in seconds from the first frame."""
    with RemuxSource(source) as clip:
        timeline = Fraction(offset) + BASE_SECONDS - clip.start
        starts: list[Fraction] = []
        writer: RemuxOutput | None = None
        next_cut = grid
        end = Fraction(0)
        try:
            for packet in clip.packets():
                if (span := clip.video_span(packet)) is not None:
                    at, stop = span
                    end = max(end, stop)
                    cut = next_cut is not None and at >= next_cut - CUT_TOLERANCE_SECONDS
                    if writer is not None and packet.is_keyframe and cut:
                        writer.close()
                        writer = None
                        starts.append(at)
                        while next_cut - CUT_TOLERANCE_SECONDS <= at:
                            next_cut += grid
                if not starts:
                    starts.append(Fraction(0))
                if writer is None:
                    writer = RemuxOutput(path_of(len(starts) - 1), clip.tracks, "mpegts")
                shift(packet, timeline)
                writer.mux(packet)
        finally:
            if writer is not None:
                writer.close()
    return starts, end
