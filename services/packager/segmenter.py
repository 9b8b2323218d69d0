"""Remuxes upscaled video (MP4) into MPEG-TS media segments on the stream's timeline: a
whole clip cut at its keyframes (`segment_clip`), or one part the worker published, which
is one segment already (`remux_part`).

Why MPEG-TS and not fMP4: each clip is encoded on its own, so its MP4 timestamps restart
near 0. Per-clip fMP4 segments would need either a discontinuity (and a new `#EXT-X-MAP`)
at every clip, or one init segment shared by the whole stream with every fragment's
`tfdt` rewritten to the stream's timeline, which breaks as soon as two clips differ in
codec parameters. A TS segment carries its own PAT/PMT and absolute 90 kHz PTS/DTS, so
shifting each packet by the clip's offset makes clip n start exactly where clip n-1 ended
and the playlist needs no discontinuity (RFC 8216 §3.2, §6.2.2).

Nothing is re-encoded: packets are copied, split at video keyframes.
"""

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from services.core import keys

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


class _SegmentWriter:
    """One open TS file with an output stream per copied input stream."""

    def __init__(self, path: Path, inputs: list[av.stream.Stream]) -> None:
        self.path = path
        self.container = av.open(str(path), "w", format="mpegts")
        self.streams = {
            stream.index: self.container.add_stream_from_template(stream) for stream in inputs
        }

    def mux(self, packet: av.Packet) -> None:
        packet.stream = self.streams[packet.stream_index]
        self.container.mux(packet)

    def close(self) -> None:
        self.container.close()


def segment_clip(
    source: Path, out_dir: Path, *, seq: int, offset: float, segment_seconds: float
) -> SegmentedClip:
    """Split `source` into `keys.segment_name(seq, n)` files in `out_dir`.

    Every timestamp is shifted so the clip's first video frame lands at
    `BASE_SECONDS + offset`. Segments start at the first video keyframe at or after each
    multiple of `segment_seconds`; their durations come from the video timestamps.
    """
    grid = Fraction(segment_seconds)
    with av.open(str(source)) as container:
        video, copied, start, shifts = _timeline(container, source, offset)
        starts: list[Fraction] = []  # each segment's start on the clip's timeline
        writer: _SegmentWriter | None = None
        next_cut = grid
        end = start
        try:
            for packet in container.demux(copied):
                # Demuxing ends with one empty packet per stream (no data, no timestamps)
                # that exists to flush decoders; muxing it would write an empty PES.
                if packet.dts is None:
                    continue
                if packet.stream_index == video.index:
                    at = packet.pts * video.time_base - start
                    end = max(end, packet.pts * video.time_base + frame_length(packet, video))
                    cut = at >= next_cut - CUT_TOLERANCE_SECONDS
                    if writer is not None and packet.is_keyframe and cut:
                        writer.close()
                        writer = None
                        starts.append(at)
                        while next_cut - CUT_TOLERANCE_SECONDS <= at:
                            next_cut += grid
                if not starts:
                    starts.append(Fraction(0))
                if writer is None:
                    name = keys.segment_name(seq, len(starts) - 1)
                    writer = _SegmentWriter(out_dir / name, copied)
                _shift(packet, shifts)
                writer.mux(packet)
        finally:
            if writer is not None:
                writer.close()

    duration = end - start
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
    with av.open(str(source)) as container:
        video, copied, start, shifts = _timeline(container, source, offset)
        end = start
        writer = _SegmentWriter(dest, copied)
        try:
            for packet in container.demux(copied):
                if packet.dts is None:  # the demuxer's empty flush packet (see segment_clip)
                    continue
                if packet.stream_index == video.index:
                    end = max(end, packet.pts * video.time_base + frame_length(packet, video))
                _shift(packet, shifts)
                writer.mux(packet)
        finally:
            writer.close()
    return float(end - start)


def _timeline(
    container: av.container.InputContainer, source: Path, offset: float
) -> tuple[av.video.stream.VideoStream, list[av.stream.Stream], Fraction, dict[int, int]]:
    """(video, the streams copied, the video's start in seconds, each stream's shift in its
    own time base) that put the first video frame at `BASE_SECONDS + offset`."""
    if not container.streams.video:
        raise ValueError(f"{source} has no video stream")
    video = container.streams.video[0]
    copied = [video, *container.streams.audio[:1]]
    start = Fraction(video.start_time or 0) * video.time_base
    timeline = Fraction(offset) + BASE_SECONDS - start
    return video, copied, start, {s.index: round(timeline / s.time_base) for s in copied}


def _shift(packet: av.Packet, shifts: dict[int, int]) -> None:
    shift = shifts[packet.stream_index]
    packet.dts += shift
    if packet.pts is not None:
        packet.pts += shift


def frame_length(packet: av.Packet, video: av.video.stream.VideoStream) -> Fraction:
    """How long a video packet shows: its own duration, else one frame at the stream's rate."""
    if packet.duration:
        return packet.duration * video.time_base
    rate = video.average_rate or video.guessed_rate
    return 1 / Fraction(rate) if rate else Fraction(0)
