"""Cuts a whole video into MP4 clips of about `clip_seconds`, at its own keyframes.

Remuxing (copying packets) is lossless and fast, so it is the rule. A source is first
re-encoded to H.264/AAC, with a keyframe every `segment_seconds`, only when copying cannot
work: its codecs cannot go into MP4 or MPEG-TS for the browser (VP8, Opus...), or its
keyframes lie so far apart that a clip would exceed `clip_max_seconds`. Each clip's
timestamps start at zero; the packager puts them back on the stream's timeline.
"""

import bisect
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from services.core.errors import BadMedia, media_error
from services.core.framesize import within_capture_limit
from services.core.settings import Settings
from services.media.probe import VideoProbe, probe
from services.media.remux import RemuxOutput, RemuxSource, shift

# Codecs the clips (MP4), the original playlist (MPEG-TS) and every browser can carry.
COPYABLE_VIDEO = ("h264",)
COPYABLE_AUDIO = ("aac",)


@dataclass(frozen=True)
class ClipFile:
    path: Path
    start: float
    duration: float


def probe_source(path: Path, settings: Settings) -> VideoProbe:
    """Keyframe times and length of `path`, checked against the worker's frame size and
    rate limits before anything decodes it; `BadMedia` (not_video) if it holds no video.

    Demuxing stops at the frames the longest accepted video may hold at the highest
    accepted rate, so a file of millions of tiny packets is refused there."""
    budget = math.floor(settings.ingest_max_seconds * settings.clip_max_fps)
    try:
        found = probe(path, max_frames=budget)
    except av.error.FFmpegError as error:
        raise media_error(
            "the file is not a video PyAV can read", error, code="not_video"
        ) from error
    if found is None:
        raise BadMedia("the file has no video track", code="not_video")
    if found.error is not None:  # cut short: the clips would miss its end
        raise media_error("the file is not a video PyAV can read", found.error, code="not_video")
    if found.first is None:
        raise BadMedia("the video track holds no frames", code="not_video")
    if not within_capture_limit(found.width, found.height):
        raise BadMedia(f"frame size {found.width}x{found.height} is over the limit of 3840x2160 pixels")
    if found.faster_than(settings.clip_max_fps):
        raise BadMedia(
            f"the video runs at {found.frame_rate:.0f} frames per second, over the limit of "
            f"{settings.clip_max_fps:g}", code="frame_rate_too_high",
        )
    if found.over_budget:
        raise BadMedia(
            f"the video has more than {budget} frames ({settings.clip_max_fps:g} fps for "
            f"{settings.ingest_max_seconds:.0f} s)", code="too_many_frames",
        )
    return found


def plan_cuts(info: VideoProbe, clip_seconds: float) -> list[Fraction]:
    """Clip start times: the first keyframe at least `clip_seconds` after the previous cut."""
    cuts = [Fraction(0)]
    step = Fraction(clip_seconds)
    for at in info.keyframes:
        # A last clip shorter than a frame or two would be a clip of nothing.
        if at >= cuts[-1] + step and info.duration - at > step / 10:
            cuts.append(at)
    return cuts


def reencode_reason(info: VideoProbe, cuts: list[Fraction], clip_max_seconds: float) -> str | None:
    """Why the source cannot be cut by copying packets, or None if it can."""
    if info.video_codec not in COPYABLE_VIDEO:
        return f"video codec {info.video_codec}"
    if info.audio_codec is not None and info.audio_codec not in COPYABLE_AUDIO:
        return f"audio codec {info.audio_codec}"
    if not info.keyframes or info.keyframes[0] != 0:
        return "no keyframe at the start"
    ends = [*cuts[1:], info.duration]
    longest = max(end - start for start, end in zip(cuts, ends))
    if longest > Fraction(clip_max_seconds):
        return f"keyframes too far apart (a clip of {float(longest):.1f} s)"
    return None


def split(source: Path, out_dir: Path, cuts: list[Fraction]) -> list[ClipFile]:
    """Copy `source`'s packets into `clip_{n:06d}.mp4` files, one per cut, each from zero."""
    with RemuxSource(source) as video:
        outputs: dict[int, RemuxOutput] = {}
        current = -1
        end = Fraction(0)
        try:
            for packet in video.packets():
                at = video.time(packet)
                if video.is_video(packet):
                    if (
                        packet.is_keyframe
                        and at is not None
                        and bisect.bisect_right(cuts, at) - 1 > current
                    ):
                        current = bisect.bisect_right(cuts, at) - 1
                        for index in [i for i in outputs if i < current - 1]:
                            outputs.pop(index).close()
                    index = current
                    if (span := video.video_span(packet)) is not None:
                        end = max(end, span[1])
                else:
                    index = max(bisect.bisect_right(cuts, at or 0) - 1, 0)
                    if index < current - 1 or index not in outputs and index < current:
                        continue  # audio of a clip already closed: a few ms at most
                if index < 0:
                    continue
                if index not in outputs:
                    outputs[index] = RemuxOutput(
                        out_dir / f"clip_{index:06d}.mp4", video.tracks, "mp4"
                    )
                shift(packet, -(video.start + cuts[index]))
                outputs[index].mux(packet)
        finally:
            for output in outputs.values():
                output.close()
    ends = [*cuts[1:], end]
    return [
        ClipFile(path=out_dir / f"clip_{n:06d}.mp4", start=float(at), duration=float(stop - at))
        for n, (at, stop) in enumerate(zip(cuts, ends))
    ]
