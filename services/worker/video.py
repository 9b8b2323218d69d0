"""Video I/O with PyAV (pinned 18.1): probe a clip, stream its frames out, write the result.

Clips from Chrome's MediaRecorder are WebM with no duration and no cues, so nothing here
trusts a header: frames are counted by demuxing. Frames leave as uint8 RGB batches with
their times in seconds relative to the clip's first video timestamp; the writer keeps those
times (VFR allowed), forces a keyframe at every segment boundary and always writes an AAC
48 kHz stereo track (silence when the input has none) so every segment has the same tracks.
"""

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Self

import av
import numpy as np
from av.video.frame import PictureType

from services.core.errors import BadMedia, media_error
from services.core.framesize import fit_within, within_capture_limit
from services.core.settings import Settings

log = logging.getLogger(__name__)

AUDIO_RATE = 48000
OUTPUT_TIME_BASE = Fraction(1, 90000)
# Audio is re-timed to its container timestamps only when it drifts more than this
# from the sample count; smaller differences are rounding jitter.
AUDIO_SLACK = AUDIO_RATE // 50
SILENCE_CHUNK = 4800
# Far longer than any clip: keyframes come only where the writer forces them.
GOP_FRAMES = 100_000


@dataclass(frozen=True)
class ClipInfo:
    """What a clip holds, learned by demuxing every video packet."""

    width: int  # as decoded for the model: the stored size, fitted under clip_max_pixels
    height: int
    frames: int
    start: float  # seconds: the earliest video timestamp, time zero of every output
    has_audio: bool
    frame_duration: float  # seconds: the nominal frame interval, for a last frame with none
    # Counter-clockwise quarter turns (np.rot90's k) that make a stored frame upright, from
    # the container's display matrix (phones record sideways and say so there). The output
    # is written upright, with no rotation of its own, since HLS players differ on it.
    turns: int = 0
    stored_pixels: int = 0  # width x height as stored, before any fitting

    @property
    def upright_size(self) -> tuple[int, int]:
        return (self.height, self.width) if self.turns % 2 else (self.width, self.height)


@dataclass(frozen=True)
class FrameBatch:
    frames: np.ndarray  # (N, H, W, 3) uint8 RGB
    times: list[float]  # seconds from ClipInfo.start
    last_duration: float | None = None  # set on the clip's final batch: its last frame's length


def probe(path: Path, settings: Settings) -> ClipInfo:
    """Check that `path` is a video the worker may process and count its frames."""
    try:
        with av.open(str(path)) as container:
            if _is_still_image(container.format.name):
                raise BadMedia(f"the clip is a still image ({container.format.name}), not a video")
            if not container.streams.video:
                raise BadMedia("the clip has no video stream")
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            if not within_capture_limit(width, height):
                raise BadMedia(f"frame size {width}x{height} is over the limit of 3840x2160 pixels")
            frames, first_pts, last_pts = _count_packets(container, stream)
            has_audio = bool(container.streams.audio)
            rate = stream.average_rate or stream.guessed_rate or 30
            time_base = stream.time_base or Fraction(1, 1000)
    except av.error.FFmpegError as error:
        raise media_error("the clip is not a readable video", error) from error
    if frames == 0:
        raise BadMedia("the clip has no video frames")
    _check_length(frames, first_pts, last_pts, time_base, settings)
    start = float(first_pts * time_base) if first_pts is not None else 0.0
    # A larger capture (a big screen) is enhanced at the limit's size, not refused: the
    # decoder scales it down, which costs far less than the model at full size.
    fitted = fit_within(width, height, settings.clip_max_pixels)
    if fitted != (width, height):
        log.info("event=clip_scaled_down input=%s size=%dx%d to=%dx%d", path.name, width, height, *fitted)
    return ClipInfo(*fitted, frames, start, has_audio, float(1 / Fraction(rate)), _turns(path), width * height)


def _turns(path: Path) -> int:
    """Quarter turns to display the clip upright, read from its first decodable frame."""
    try:
        with av.open(str(path)) as container:
            rotation = next(container.decode(video=0)).rotation
    except (av.error.FFmpegError, StopIteration):
        return 0  # decoding reports the real problem, with its own error
    return round(rotation / 90) % 4


def _check_length(
    frames: int, first_pts: int | None, last_pts: int | None, time_base: Fraction, settings: Settings
) -> None:
    """Refuse clips longer than the limit, faster than the fps limit, or with more frames
    than both allow: the header may lie, so all three come from the packets."""
    span = float((last_pts - first_pts) * time_base) if first_pts is not None and last_pts is not None else 0.0
    if span > settings.clip_max_seconds:
        raise BadMedia(f"the clip lasts {span:.1f} s, over the limit of {settings.clip_max_seconds:g} s",
                       code="clip_too_long")
    # Frames over the time they span, with a frame of slack for timestamp rounding: the
    # frame budget alone lets a short clip pack any rate (480 frames in 2 s).
    if first_pts is not None and frames - 1 > settings.clip_max_fps * span + 1:
        rate = (frames - 1) / span if span > 0 else math.inf
        raise BadMedia(f"the clip runs at {rate:.0f} frames per second, over the limit of "
                       f"{settings.clip_max_fps:g}", code="frame_rate_too_high")
    max_frames = settings.clip_max_seconds * settings.clip_max_fps
    if frames > max_frames:
        raise BadMedia(f"the clip has {frames} frames, over the limit of {max_frames:.0f} "
                       f"({settings.clip_max_fps:g} fps for {settings.clip_max_seconds:g} s)",
                       code="too_many_frames")


def _is_still_image(demuxer: str) -> bool:
    """FFmpeg sniffs content, so a PNG named .webm opens as a one-frame "video"."""
    return demuxer.endswith("_pipe") or demuxer == "image2"


def count_frames(path: Path) -> int:
    """Video frames in the clip, by demuxing packets (never from the header)."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return 0
            return _count_packets(container, container.streams.video[0])[0]
    except av.error.FFmpegError as error:
        raise media_error("the clip is not a readable video", error) from error


def _count_packets(
    container: av.container.InputContainer, stream: av.VideoStream
) -> tuple[int, int | None, int | None]:
    """(packets with data, smallest pts, largest pts); a truncated tail ends the count."""
    count, first, last = 0, None, None
    try:
        for packet in container.demux(stream):
            if packet.size == 0:  # the demuxer's empty flush packet is not a frame
                continue
            count += 1
            if packet.pts is not None:
                first = packet.pts if first is None else min(first, packet.pts)
                last = packet.pts if last is None else max(last, packet.pts)
    except av.error.FFmpegError as error:
        log.warning("event=truncated_clip packets=%d error=%r", count, str(error))
    return count, first, last


def decode_batches(path: Path, info: ClipInfo, batch_size: int) -> Iterator[FrameBatch]:
    """Stream the clip's frames as RGB batches; a corrupt tail ends the clip early."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        frames: list[np.ndarray] = []
        times: list[float] = []
        last_time: float | None = None
        last_duration: float | None = None
        for frame in _decoded_frames(container, stream):
            if frame.width * frame.height > info.stored_pixels:
                raise BadMedia(f"frame size changed mid-clip to {frame.width}x{frame.height}")
            time = frame.time
            if time is None:  # no pts: assume the nominal rate
                time = info.start if last_time is None else info.start + last_time + info.frame_duration
            last_time = time - info.start
            duration = float(frame.duration * frame.time_base) if frame.duration and frame.time_base else 0.0
            last_duration = duration if duration > 0 else None
            image = frame.to_ndarray(format="rgb24", width=info.width, height=info.height)
            frames.append(np.rot90(image, info.turns) if info.turns else image)
            times.append(last_time)
            if len(frames) == batch_size:
                yield FrameBatch(np.stack(frames), times)
                frames, times = [], []
        if frames:
            yield FrameBatch(np.stack(frames), times, last_duration)
        elif last_time is not None:
            width, height = info.upright_size
            yield FrameBatch(np.empty((0, height, width, 3), np.uint8), [], last_duration)


def _decoded_frames(container: av.container.InputContainer, stream: av.VideoStream) -> Iterator[av.VideoFrame]:
    decoded = 0
    try:
        for packet in container.demux(stream):
            try:
                for frame in packet.decode():
                    decoded += 1
                    yield frame
            except av.error.InvalidDataError as error:
                # One damaged packet costs its frame, not the clip.
                log.warning("event=corrupt_packet frames=%d error=%r", decoded, str(error))
    except av.error.FFmpegError as error:
        log.warning("event=truncated_clip frames=%d error=%r", decoded, str(error))
    if decoded == 0:
        raise BadMedia("the clip has no decodable video frames")


def audio_chunks(path: Path, start: float) -> Iterator[tuple[int, np.ndarray]]:
    """(first sample index from `start`, (2, n) float32 samples) at 48 kHz stereo."""
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE)
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return
        stream = container.streams.audio[0]
        stream.thread_type = "AUTO"
        position: int | None = None
        try:
            for packet in container.demux(stream):
                for frame in packet.decode():
                    if frame.time is not None:
                        position = round((frame.time - start) * AUDIO_RATE)
                    for out in resampler.resample(frame):
                        samples = out.to_ndarray()
                        yield (position or 0), samples
                        position = (position or 0) + samples.shape[1]
        except av.error.FFmpegError as error:
            log.warning("event=truncated_audio error=%r", str(error))


class AudioTrack:
    """Lays audio chunks onto a gapless timeline from time zero and encodes them to AAC."""

    def __init__(
        self, container: av.container.OutputContainer, source: Iterator[tuple[int, np.ndarray]],
        splitter: "_PartSplitter | None" = None,
    ) -> None:
        self.container = container
        self.splitter = splitter
        self.stream = container.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
        self.stream.time_base = Fraction(1, AUDIO_RATE)
        self.source = source
        self.written = 0
        self.pending: tuple[int, np.ndarray] | None = None

    def write_until(self, seconds: float) -> None:
        """Encode audio up to `seconds` so the muxer can interleave it with the video."""
        end = round(seconds * AUDIO_RATE)
        while self.written < end:
            chunk = self.pending or next(self.source, None)
            self.pending = None
            if chunk is None:
                self._silence(end)
                return
            position, samples = chunk
            if position - self.written > AUDIO_SLACK:
                self._silence(position)
            elif self.written - position > AUDIO_SLACK:
                samples = samples[:, self.written - position :]
            room = end - self.written
            if samples.shape[1] > room:
                self.pending = (self.written + room, samples[:, room:])
                samples = samples[:, :room]
            self._encode(samples)

    def finish(self, seconds: float) -> None:
        """Audio exactly as long as the video: trimmed or padded with silence."""
        self.write_until(seconds)
        self._mux(self.stream.encode(None))

    def _silence(self, end: int) -> None:
        while self.written < end:
            self._encode(np.zeros((2, min(SILENCE_CHUNK, end - self.written)), np.float32))

    def _encode(self, samples: np.ndarray) -> None:
        if samples.shape[1] == 0:
            return
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format="fltp", layout="stereo")
        frame.sample_rate = AUDIO_RATE
        frame.pts = self.written
        frame.time_base = Fraction(1, AUDIO_RATE)
        self._mux(self.stream.encode(frame))
        self.written += samples.shape[1]

    def _mux(self, packets: list[av.Packet]) -> None:
        _mux_packets(self.container, self.splitter, packets)


def _mux_packets(
    container: av.container.OutputContainer, splitter: "_PartSplitter | None", packets: list[av.Packet],
) -> None:
    """Into the clip's MP4, and through the splitter into the parts when there are parts."""
    if splitter is None:
        container.mux(packets)
    else:
        splitter.mux(packets)


@lru_cache
def h264_encoder() -> str:
    """`h264_nvenc` when CUDA is present and the encoder really opens, else `libx264`."""
    import torch

    if torch.cuda.is_available():
        try:
            context = av.CodecContext.create("h264_nvenc", "w")
            context.width, context.height, context.pix_fmt = 256, 256, "yuv420p"
            context.time_base = Fraction(1, 30)
            context.open()
            return "h264_nvenc"
        except (av.error.FFmpegError, ValueError) as error:
            log.warning("event=nvenc_unavailable error=%r", str(error))
    return "libx264"


@dataclass(frozen=True)
class PartFile:
    """One segment's worth of the clip as its own MP4, timestamps from its first frame."""

    index: int
    path: Path
    start: float  # seconds: where it begins on the clip's timeline


PartCallback = Callable[[PartFile], None]


class _PartSplitter:
    """Copies the clip's packets into one MP4 per segment, each handed on once complete.

    A part opens at each video keyframe (the writer forces them only at segment edges) and
    closes, going to `on_part`, when the next one opens or the clip ends. Its timestamps are
    rebased to its first frame, so every part is an ordinary short clip that the packager
    shifts onto the stream's timeline. Audio runs ahead of the video packets (the encoder's
    lookahead), so an audio packet waits until the part its time falls in is open.
    """

    def __init__(self, directory: Path, template: av.container.OutputContainer, on_part: PartCallback) -> None:
        self.directory, self.template, self.on_part = directory, template, on_part
        self.cuts: list[Fraction] = []  # seconds of every keyframe forced so far
        self.part: av.container.OutputContainer | None = None
        self.index = -1
        self.start = Fraction(0)
        self.streams: dict[int, av.stream.Stream] = {}
        self.waiting: list[tuple[av.Packet, int]] = []  # audio ahead of the open part, by stream

    def mux(self, packets: list[av.Packet]) -> None:
        """Mux `packets` into the template's container, and a copy of each into the parts."""
        for packet in packets:
            # The muxer takes the packet's data, so the copy is made first; the part is
            # opened after, once the template's header (H.264's SPS/PPS) is written.
            copy = av.Packet(bytes(packet))
            copy.pts, copy.dts, copy.duration = packet.pts, packet.dts, packet.duration
            copy.time_base, copy.is_keyframe = packet.time_base, packet.is_keyframe
            index, kind = packet.stream.index, packet.stream.type
            self.template.mux(packet)
            if kind == "video":
                if copy.is_keyframe:
                    self._open_next(copy.pts * copy.time_base)
                self._write(copy, index)
            else:
                self.waiting.append((copy, index))
            self._release_audio()

    def close(self) -> None:
        if self.part is not None:
            self._release_audio(everything=True)
            self._close_part()

    def abort(self) -> None:
        if self.part is not None:
            self.part.close()

    def _open_next(self, start: Fraction) -> None:
        if self.part is not None:
            self._release_audio()
            self._close_part()
        self.index, self.start = self.index + 1, start
        self.part = av.open(str(self._path()), "w", format="mp4")
        self.streams = {}
        for template in self.template.streams:
            stream = self.part.add_stream_from_template(template)
            stream.time_base = template.time_base
            self.streams[template.index] = stream

    def _release_audio(self, everything: bool = False) -> None:
        if self.part is None:
            return
        index = self.index + 1
        end = self.cuts[index] if index < len(self.cuts) else None
        keep = []
        for packet, stream in self.waiting:
            if everything or end is None or packet.pts * packet.time_base < end:
                self._write(packet, stream)
            else:
                keep.append((packet, stream))
        self.waiting = keep

    def _write(self, packet: av.Packet, stream: int) -> None:
        assert self.part is not None
        shift = round(self.start / packet.time_base)
        packet.pts -= shift
        packet.dts -= shift
        packet.stream = self.streams[stream]
        self.part.mux(packet)

    def _path(self) -> Path:
        return self.directory / f"part_{self.index:03d}.mp4"

    def _close_part(self) -> None:
        assert self.part is not None
        self.part.close()
        self.part = None
        self.on_part(PartFile(self.index, self._path(), float(self.start)))


class ClipWriter:
    """An MP4: H.264 yuv420p with keyframes at segment boundaries, plus AAC audio.

    With `parts`, each segment is also written to its own MP4 in that directory and handed
    to `on_part` as soon as it is encoded, so a segment can be published before the clip
    is done.
    """

    def __init__(
        self, path: Path, width: int, height: int, settings: Settings,
        audio: Iterator[tuple[int, np.ndarray]],
        parts: Path | None = None, on_part: PartCallback | None = None,
    ) -> None:
        # 4:2:0 needs even sides; an odd output (scale 3 of an odd input) loses one line.
        self.width, self.height = width - width % 2, height - height % 2
        self.segment = settings.segment_seconds
        self.next_boundary = 0.0
        self.container = av.open(str(path), "w", format="mp4")
        encoder = h264_encoder()
        self.video = self.container.add_stream(encoder, options=_encoder_options(encoder, settings))
        self.video.width, self.video.height, self.video.pix_fmt = self.width, self.height, "yuv420p"
        self.video.time_base = OUTPUT_TIME_BASE
        self.video.codec_context.time_base = OUTPUT_TIME_BASE
        self.video.codec_context.gop_size = GOP_FRAMES
        self.splitter = (
            _PartSplitter(parts, self.container, on_part) if parts is not None and on_part is not None else None
        )
        self.audio = AudioTrack(self.container, audio, self.splitter)
        self.last_pts = -1
        self.held: av.VideoFrame | None = None
        self.durations: dict[int, int] = {}

    def write(self, batch: FrameBatch) -> None:
        for image, time in zip(batch.frames, batch.times):
            pts = max(round(time * OUTPUT_TIME_BASE.denominator), self.last_pts + 1)  # increasing
            frame = av.VideoFrame.from_ndarray(image[: self.height, : self.width], format="rgb24")
            frame.pts, frame.time_base = pts, OUTPUT_TIME_BASE
            if time >= self.next_boundary - 1e-6:
                frame.pict_type = PictureType.I
                if self.splitter is not None:
                    self.splitter.cuts.append(pts * OUTPUT_TIME_BASE)
                self.next_boundary = (math.floor(time / self.segment + 1e-6) + 1) * self.segment
            self._encode_held(pts)
            self.held, self.last_pts = frame, pts

    def close(self, end: float) -> None:
        """Flush both encoders; `end` is the video's length in seconds."""
        self._encode_held(max(round(end * OUTPUT_TIME_BASE.denominator), self.last_pts + 1))
        self._mux(self.video.encode(None))
        self.audio.finish(end)
        self.container.close()
        if self.splitter is not None:
            self.splitter.close()

    def _encode_held(self, next_pts: int) -> None:
        """Encode the frame before this one, now that its duration is known.

        The muxer takes the last sample's length from its packet, so without a duration
        the MP4 would end early and the segments after it would start out of step.
        """
        if self.held is None:
            return
        self.durations[self.held.pts] = next_pts - self.held.pts
        self.audio.write_until(float(self.held.pts * OUTPUT_TIME_BASE))
        self._mux(self.video.encode(self.held))

    def _mux(self, packets: list[av.Packet]) -> None:
        # The H.264 encoders drop the frame's duration; put it back on each packet.
        for packet in packets:
            packet.duration = self.durations.pop(packet.pts, packet.duration)
        _mux_packets(self.container, self.splitter, packets)

    def abort(self) -> None:
        self.container.close()
        if self.splitter is not None:
            self.splitter.abort()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if kind is not None:
            self.abort()


def _encoder_options(encoder: str, settings: Settings) -> dict[str, str]:
    if encoder == "h264_nvenc":
        return {"preset": "p4", "forced-idr": "1", "no-scenecut": "1"}
    # sc_threshold 0: no scene-cut keyframes between the forced ones.
    return {"preset": settings.encoder_preset, "forced-idr": "1", "sc_threshold": "0"}


class PngWriter:
    """Lossless PNG frames in a directory, for quality checks of the upscaler."""

    def __init__(self, directory: Path, width: int, height: int) -> None:
        self.directory = directory
        self.width, self.height = width, height
        self.count = 0

    def write(self, batch: FrameBatch) -> None:
        for image in batch.frames:
            self.count += 1
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            with av.open(str(self.directory / f"{self.count:06d}.png"), "w", format="image2") as out:
                stream = out.add_stream("png")
                stream.width, stream.height, stream.pix_fmt = frame.width, frame.height, "rgb24"
                out.mux(stream.encode(frame))
                out.mux(stream.encode(None))

    def close(self, end: float) -> None:
        """Nothing buffered: every frame is already a file."""

    def abort(self) -> None:
        """Frames written so far stay for inspection."""
