"""What a video file holds, learned by demuxing every video packet, never from its header.

Clips from Chrome's MediaRecorder are WebM with no duration and no cues, and a downloaded
file's header may lie, so frame counts, times and keyframes all come from the packets.
Demuxing copies no pixels, so a probe costs little next to decoding.
"""

import logging
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from services.media.untrusted import open_media

log = logging.getLogger(__name__)

# What a stream that states no frame rate is taken to run at.
DEFAULT_RATE = 30


@dataclass(frozen=True)
class VideoProbe:
    """A file's first video track (and what audio travels with it), packet by packet."""

    demuxer: str
    video_codec: str
    audio_codec: str | None
    width: int  # as stored, before any rotation
    height: int
    frames: int  # video packets that carry data
    first: Fraction | None  # seconds: the smallest video timestamp, None if no packet had one
    last: Fraction | None  # seconds: the largest video timestamp
    end: Fraction  # seconds: where the last frame stops showing
    keyframes: list[Fraction]  # seconds from `first`, in order
    frame_duration: Fraction  # seconds: the nominal frame interval
    # The error that ended demuxing before the end of the file (a truncated download or
    # recording); what came before it is counted.
    error: av.error.FFmpegError | None = None
    # Demuxing stopped at the caller's frame budget: the file has more frames than `frames`.
    over_budget: bool = False

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None

    @property
    def duration(self) -> Fraction:
        """Seconds from the first frame to the end of the last one."""
        return self.end - self.first if self.first is not None else Fraction(0)

    @property
    def span(self) -> Fraction:
        """Seconds from the first frame's timestamp to the last frame's."""
        if self.first is None or self.last is None:
            return Fraction(0)
        return self.last - self.first

    def faster_than(self, fps: float) -> bool:
        """More frames over the time they span than `fps` allows, with a frame of slack for
        timestamp rounding (a frame budget alone lets a short file pack any rate)."""
        return self.first is not None and self.frames - 1 > fps * self.span + 1

    @property
    def frame_rate(self) -> float:
        """Frames per second over the time they span (inf for frames all at one time)."""
        return (self.frames - 1) / float(self.span) if self.span > 0 else math.inf

    @property
    def still_image(self) -> bool:
        """FFmpeg sniffs content, so a PNG named .webm opens as a one-frame "video"."""
        return self.demuxer.endswith("_pipe") or self.demuxer == "image2"


def probe(path: Path, max_frames: float) -> VideoProbe | None:
    """Demux `path`'s first video track, up to `max_frames` frames and one more (then
    `over_budget`: a file of millions of tiny packets stops there, not at the end of the
    disk); None if it has none. Only keyframe times are kept, so memory follows them.

    Raises PyAV's `FFmpegError` when the file cannot be opened at all; the caller says,
    in its own words, what that means for its user.
    """
    with open_media(path) as container:
        if not container.streams.video:
            return None
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        frames, first, last, end, error = 0, None, None, None, None
        keyframes: list[Fraction] = []
        try:
            for packet in container.demux(video):
                if packet.size == 0:  # the demuxer's empty flush packet is not a frame
                    continue
                frames += 1
                if frames > max_frames:
                    break
                if packet.pts is not None:
                    at = packet.pts * video.time_base
                    first = at if first is None else min(first, at)
                    last = at if last is None else max(last, at)
                    if packet.is_keyframe:
                        keyframes.append(at)
                    stop = at + frame_length(packet, video)
                    end = stop if end is None else max(end, stop)
        except av.error.FFmpegError as demux_error:
            log.warning("event=truncated_video packets=%d error=%r", frames, str(demux_error))
            error = demux_error
        return VideoProbe(
            demuxer=container.format.name,
            video_codec=video.codec_context.name,
            audio_codec=audio.codec_context.name if audio is not None else None,
            width=video.codec_context.width,
            height=video.codec_context.height,
            frames=frames,
            first=first,
            last=last,
            end=end if end is not None else Fraction(0),
            keyframes=sorted(at - first for at in keyframes) if first is not None else [],
            frame_duration=1 / Fraction(video.average_rate or video.guessed_rate or DEFAULT_RATE),
            error=error,
            over_budget=frames > max_frames,
        )


def frame_length(packet: av.Packet, video: av.video.stream.VideoStream) -> Fraction:
    """How long a video packet shows: its own duration, else one frame at the stream's rate."""
    if packet.duration:
        return packet.duration * video.time_base
    rate = video.average_rate or video.guessed_rate
    return 1 / Fraction(rate) if rate else Fraction(0)


def upright_turns(path: Path) -> int:
    """Counter-clockwise quarter turns (np.rot90's k) that show `path` upright, from the
    display matrix of its first decodable frame (phones record sideways and say so there)."""
    try:
        with open_media(path) as container:
            rotation = next(container.decode(video=0)).rotation
    except (av.error.FFmpegError, StopIteration):
        return 0  # decoding reports the real problem, with its own error
    return round(rotation / 90) % 4
