"""Cuts a whole video into MP4 clips of about `clip_seconds`, at its own keyframes.

Remuxing (copying packets) is lossless and fast, so it is the rule. A source is first
re-encoded to H.264/AAC, with a keyframe every `segment_seconds`, only when copying cannot
work: its codecs cannot go into MP4 or MPEG-TS for the browser (VP8, Opus...), or its
keyframes lie so far apart that a clip would exceed `clip_max_seconds`. Each clip's
timestamps start at zero; the packager puts them back on the stream's timeline.
"""

import bisect
import logging
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from av.video.frame import PictureType

from services.core.errors import BadMedia, media_error
from services.packager.segmenter import frame_length

log = logging.getLogger(__name__)

# Codecs the clips (MP4), the original playlist (MPEG-TS) and every browser can carry.
COPYABLE_VIDEO = ("h264",)
COPYABLE_AUDIO = ("aac",)
OUTPUT_TIME_BASE = Fraction(1, 90000)
AUDIO_RATE = 48000


@dataclass(frozen=True)
class SourceInfo:
    """What demuxing (no decoding) tells about a video; times in seconds from its start."""

    video_codec: str
    audio_codec: str | None
    width: int
    height: int
    keyframes: list[Fraction]
    duration: Fraction


@dataclass(frozen=True)
class ClipFile:
    path: Path
    start: float
    duration: float


def probe_source(path: Path) -> SourceInfo:
    """Keyframe times and length of `path`; `BadMedia` (not_video) if it holds no video."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise BadMedia("the file has no video track", code="not_video")
            video = container.streams.video[0]
            audio = container.streams.audio[0] if container.streams.audio else None
            times: list[tuple[Fraction, bool]] = []
            end = Fraction(0)
            for packet in container.demux(video):
                if packet.pts is None:
                    continue
                at = packet.pts * video.time_base
                times.append((at, packet.is_keyframe))
                end = max(end, at + frame_length(packet, video))
            if not times:
                raise BadMedia("the video track holds no frames", code="not_video")
            start = min(at for at, _ in times)
            return SourceInfo(
                video_codec=video.codec_context.name,
                audio_codec=audio.codec_context.name if audio is not None else None,
                width=video.codec_context.width,
                height=video.codec_context.height,
                keyframes=sorted(at - start for at, key in times if key),
                duration=end - start,
            )
    except av.error.FFmpegError as error:
        raise media_error("the file is not a video PyAV can read", error, code="not_video") from error


def plan_cuts(info: SourceInfo, clip_seconds: float) -> list[Fraction]:
    """Clip start times: the first keyframe at least `clip_seconds` after the previous cut."""
    cuts = [Fraction(0)]
    step = Fraction(clip_seconds)
    for at in info.keyframes:
        # A last clip shorter than a frame or two would be a clip of nothing.
        if at >= cuts[-1] + step and info.duration - at > step / 10:
            cuts.append(at)
    return cuts


def reencode_reason(info: SourceInfo, cuts: list[Fraction], clip_max_seconds: float) -> str | None:
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


def reencode(source: Path, dest: Path, *, keyframe_seconds: float, preset: str) -> None:
    """H.264 (keyframe every `keyframe_seconds`, even sides) + AAC stereo 48 kHz, in MP4."""
    with av.open(str(source)) as container, av.open(str(dest), "w", format="mp4") as out:
        video_in = container.streams.video[0]
        audio_in = container.streams.audio[0] if container.streams.audio else None
        width = video_in.codec_context.width - video_in.codec_context.width % 2
        height = video_in.codec_context.height - video_in.codec_context.height % 2
        video = out.add_stream("libx264", options={"preset": preset, "forced-idr": "1", "sc_threshold": "0"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.time_base = video.codec_context.time_base = OUTPUT_TIME_BASE
        video.codec_context.gop_size = 100_000  # keyframes only where forced
        rate = video_in.average_rate or video_in.guessed_rate or 25
        frame_ticks = round(1 / Fraction(rate) / OUTPUT_TIME_BASE)
        audio = None
        if audio_in is not None:
            audio = out.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
            resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE)
        start: float | None = None
        last_pts, next_key, samples = -1, 0.0, 0
        for frame in container.decode(*(s for s in (video_in, audio_in) if s is not None)):
            if frame.time is None:
                continue
            if isinstance(frame, av.VideoFrame):
                start = frame.time if start is None else start
                at = frame.time - start
                pts = max(round(at / OUTPUT_TIME_BASE), last_pts + 1)
                image = frame.reformat(width=width, height=height, format="yuv420p")
                image.pts, image.time_base, last_pts = pts, OUTPUT_TIME_BASE, pts
                if at >= next_key - 1e-6:
                    image.pict_type = PictureType.I
                    next_key += keyframe_seconds
                _mux_with_duration(out, video.encode(image), frame_ticks)
            elif audio is not None and start is not None:
                for chunk in resampler.resample(frame):
                    chunk.pts, samples = samples, samples + chunk.samples
                    out.mux(audio.encode(chunk))
        _mux_with_duration(out, video.encode(None), frame_ticks)
        if audio is not None:
            out.mux(audio.encode(None))
    if start is None:
        raise BadMedia("the video track holds no frames", code="not_video")


def _mux_with_duration(out: av.container.OutputContainer, packets: list[av.Packet], ticks: int) -> None:
    # The H.264 encoder drops durations; without one the MP4's last frame has no length.
    for packet in packets:
        packet.duration = packet.duration or ticks
    out.mux(packets)


def split(source: Path, out_dir: Path, cuts: list[Fraction]) -> list[ClipFile]:
    """Copy `source`'s packets into `clip_{n:06d}.mp4` files, one per cut."""
    with av.open(str(source)) as container:
        video = container.streams.video[0]
        copied = [video, *container.streams.audio[:1]]
        start = Fraction(video.start_time or 0) * video.time_base
        writers: dict[int, _ClipWriter] = {}
        current = -1
        end = Fraction(0)
        try:
            for packet in container.demux(copied):
                if packet.dts is None:  # the flush packet that ends each stream
                    continue
                at = packet.pts * packet.stream.time_base - start if packet.pts is not None else None
                if packet.stream_index == video.index:
                    if packet.is_keyframe and at is not None and bisect.bisect_right(cuts, at) - 1 > current:
                        current = bisect.bisect_right(cuts, at) - 1
                        for index in [i for i in writers if i < current - 1]:
                            writers.pop(index).close()
                    index = current
                    if at is not None:
                        end = max(end, at + frame_length(packet, video))
                else:
                    index = max(bisect.bisect_right(cuts, at or 0) - 1, 0)
                    if index < current - 1 or index not in writers and index < current:
                        continue  # audio of a clip already closed: a few ms at most
                if index < 0:
                    continue
                if index not in writers:
                    writers[index] = _ClipWriter(out_dir / f"clip_{index:06d}.mp4", copied, start + cuts[index])
                writers[index].mux(packet)
        finally:
            for writer in writers.values():
                writer.close()
    ends = [*cuts[1:], end]
    return [
        ClipFile(path=out_dir / f"clip_{n:06d}.mp4", start=float(at), duration=float(stop - at))
        for n, (at, stop) in enumerate(zip(cuts, ends))
    ]


class _ClipWriter:
    """One clip's MP4, its timestamps shifted so it starts at zero."""

    def __init__(self, path: Path, inputs: list[av.stream.Stream], start: Fraction) -> None:
        self.container = av.open(str(path), "w", format="mp4")
        self.streams = {s.index: self.container.add_stream_from_template(s) for s in inputs}
        self.shifts = {s.index: round(start / s.time_base) for s in inputs}

    def mux(self, packet: av.Packet) -> None:
        shift = self.shifts[packet.stream_index]
        packet.stream = self.streams[packet.stream_index]
        packet.dts -= shift
        if packet.pts is not None:
            packet.pts -= shift
        self.container.mux(packet)

    def close(self) -> None:
        self.container.close()
