"""Encoding video: the one place that knows how our H.264 files are made.

Every MP4 the project encodes (an upscaled clip, a source that could not be copied) is
H.264 yuv420p with even sides, a forced IDR keyframe at every segment boundary and none
between (so HLS segments cut cleanly), each frame's real duration on its packet, and an
AAC 48 kHz stereo track from time zero to the video's end. Frame times are kept as given
(VFR allowed) on a 90 kHz clock.
"""

import logging
import math
from collections.abc import Iterator
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Self

import av
from av.video.frame import PictureType

from services.media.audio import AAC_FRAME_SAMPLES, AUDIO_RATE, AacTrack, AudioChunk
from services.media.parts import PartCallback, PartSplitter
from services.media.reader import FrameBatch

log = logging.getLogger(__name__)

OUTPUT_TIME_BASE = Fraction(1, 90000)
# A part shorter than one AAC frame could hold no audio packet.
SHORTEST_PART_SECONDS = AAC_FRAME_SAMPLES / AUDIO_RATE
# Far longer than any clip: keyframes come only where the writer forces them.
GOP_FRAMES = 100_000


# H.264 NVENC opens no frame with a side over 4096 on any GPU generation so far (the
# encoder's level limit): 1080p at x3/x4 and 720p at x4 go to libx264.
NVENC_MAX_SIDE = 4096
# Constant quality on both encoders. libx264's CRF 23 is its own default, kept; NVENC's
# constant-quality mode (`cq`, with no bitrate target) at the same number gives files of
# comparable size and look on animation and film (to be confirmed per GPU: bench/gpu_check).
QUALITY = 23


def h264_encoder(width: int, height: int) -> str:
    """`h264_nvenc` for a frame it can take on a machine where it really opens (a GPU
    with NVENC), else `libx264`."""
    if max(width, height) <= NVENC_MAX_SIDE and nvenc_opens():
        return "h264_nvenc"
    return "libx264"


@lru_cache
def nvenc_opens() -> bool:
    """PyAV's wheels list `h264_nvenc` on every machine, so only opening it tells: it fails
    at once without a GPU, driver or NVENC unit (H100- and A100-class GPUs have none)."""
    if "h264_nvenc" not in av.codecs_available:
        return False
    try:
        context = av.CodecContext.create("h264_nvenc", "w")
        context.width, context.height, context.pix_fmt = 256, 256, "yuv420p"
        context.time_base = Fraction(1, 30)
        context.open()
        return True
    except (av.error.FFmpegError, ValueError) as error:
        log.info("event=nvenc_unavailable error=%r", str(error))
        return False


def encoder_options(encoder: str, preset: str) -> dict[str, str]:
    """Constant quality at `QUALITY`; forced keyframes are IDR (a segment can start
    playback) and no scene cut adds one."""
    if encoder == "h264_nvenc":
        # vbr with cq and no bitrate target is NVENC's constant-quality mode; without
        # these it runs at the driver's default bitrate whatever the frame size.
        return {"preset": "p4", "rc": "vbr", "cq": str(QUALITY), "b": "0",
                "forced-idr": "1", "no-scenecut": "1"}  # fmt: skip
    return {"preset": preset, "crf": str(QUALITY), "forced-idr": "1", "sc_threshold": "0"}


class VideoWriter:
    """An MP4 of frames given with their times in seconds: H.264 plus AAC audio.

    `audio` is laid under the video (silence where it has none); with `audio=None` the
    file has no audio track. With `parts`, each segment is also written to its own MP4 in
    that directory and handed to `on_part` as soon as it is encoded. `frame_rate`, the
    clip's nominal rate, is what the encoder's rate control plans with (times stay as given).
    """

    def __init__(
        self,
        path: Path,
        width: int,
        height: int,
        *,
        keyframe_seconds: float,
        preset: str,
        audio: Iterator[AudioChunk] | None,
        parts: Path | None = None,
        on_part: PartCallback | None = None,
        frame_rate: Fraction | None = None,
    ) -> None:
        # 4:2:0 needs even sides; an odd output (scale 3 of an odd input) loses one line.
        self.width, self.height = width - width % 2, height - height % 2
        self.segment = keyframe_seconds
        self.next_boundary = 0.0
        encoder = h264_encoder(self.width, self.height)
        try:
            self._open(path, encoder, preset, frame_rate)
        except (av.error.FFmpegError, ValueError) as error:
            if encoder == "libx264":
                raise
            # NVENC can still refuse a size or run out of sessions (consumer cards allow few).
            log.warning("event=nvenc_open_failed size=%dx%d fallback=libx264 error=%r",
                        self.width, self.height, str(error))
            self.container.close()
            self._open(path, "libx264", preset, frame_rate)
        self.splitter = (
            PartSplitter(parts, self.container, on_part)
            if parts is not None and on_part is not None
            else None
        )
        self.audio = AacTrack(self.container, audio, self._mux_any) if audio is not None else None
        self.last_pts = -1
        self.held: av.VideoFrame | None = None
        self.durations: dict[int, int] = {}

    def _open(self, path: Path, encoder: str, preset: str, frame_rate: Fraction | None) -> None:
        """The MP4 and its video stream, the encoder opened now so a refusal shows here."""
        self.container = av.open(str(path), "w", format="mp4")
        self.video = self.container.add_stream(encoder, options=encoder_options(encoder, preset))
        self.video.width, self.video.height, self.video.pix_fmt = self.width, self.height, "yuv420p"
        self.video.time_base = OUTPUT_TIME_BASE
        context = self.video.codec_context
        context.time_base = OUTPUT_TIME_BASE
        context.gop_size = GOP_FRAMES
        if frame_rate is not None:  # rate control budgets per frame: tell it the real rate
            context.framerate = frame_rate
        context.open()

    def write(self, batch: FrameBatch) -> None:
        """RGB frames, cropped to the even size if the batch is a line over."""
        for image, time in zip(batch.frames, batch.times):
            self.write_frame(
                av.VideoFrame.from_ndarray(image[: self.height, : self.width], format="rgb24"), time
            )

    def write_frame(self, frame: av.VideoFrame, time: float) -> None:
        """One frame (any format; the encoder converts it) shown from `time` seconds."""
        pts = max(round(time * OUTPUT_TIME_BASE.denominator), self.last_pts + 1)  # increasing
        frame.pts, frame.time_base = pts, OUTPUT_TIME_BASE
        # A decoded frame keeps its source's picture type, which the encoder would obey.
        frame.pict_type = PictureType.NONE
        if time >= self.next_boundary - 1e-6:
            frame.pict_type = PictureType.I
            if self.splitter is not None:
                self.splitter.cuts.append(pts * OUTPUT_TIME_BASE)
            self.next_boundary = (math.floor(time / self.segment + 1e-6) + 1) * self.segment
        self._encode_held(pts)
        self.held, self.last_pts = frame, pts

    def close(self, end: float) -> None:
        """Flush both encoders; `end` is the video's length in seconds.

        Audio first: the AAC encoder holds its last packets, and once the video's flush
        has opened the last part, packets from before its start would land in it."""
        self._keep_last_frame_in_its_part(end)
        self._encode_held(max(round(end * OUTPUT_TIME_BASE.denominator), self.last_pts + 1))
        if self.audio is not None:
            self.audio.finish(end)
        self._mux_video(self.video.encode(None))
        self.container.close()
        if self.splitter is not None:
            self.splitter.close()

    def _keep_last_frame_in_its_part(self, end: float) -> None:
        """A last frame on a segment edge that shows for less than an AAC frame (Chrome
        stamps a recording's last frame 1 ms long) stays in the part before: a part that
        short would hold no audio packet."""
        if self.splitter is None or self.held is None or len(self.splitter.cuts) < 2:
            return
        cut = self.splitter.cuts[-1]
        if cut == self.held.pts * OUTPUT_TIME_BASE and end - float(cut) < SHORTEST_PART_SECONDS:
            self.held.pict_type = PictureType.NONE
            self.splitter.cuts.pop()

    def _encode_held(self, next_pts: int) -> None:
        """Encode the frame before this one, now that its duration is known.

        The muxer takes the last sample's length from its packet, so without a duration
        the MP4 would end early and the segments after it would start out of step.
        """
        if self.held is None:
            return
        self.durations[self.held.pts] = next_pts - self.held.pts
        if self.audio is not None:
            self.audio.write_until(float(self.held.pts * OUTPUT_TIME_BASE))
        self._mux_video(self.video.encode(self.held))

    def _mux_video(self, packets: list[av.Packet]) -> None:
        # The H.264 encoders drop the frame's duration; put it back on each packet.
        for packet in packets:
            packet.duration = self.durations.pop(packet.pts, packet.duration)
        self._mux_any(packets)

    def _mux_any(self, packets: list[av.Packet]) -> None:
        """Into the MP4, and through the splitter into the parts when there are parts."""
        if self.splitter is None:
            self.container.mux(packets)
        else:
            self.splitter.mux(packets)

    def abort(self) -> None:
        self.container.close()
        if self.splitter is not None:
            self.splitter.abort()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if kind is not None:
            self.abort()
