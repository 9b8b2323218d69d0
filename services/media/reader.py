"""Decoding video: frames one at a time, or as RGB batches sized for the model.

A damaged packet costs its own frame and a truncated tail ends the video early; only a
video with no decodable frame at all is refused. Batches carry their frames' times in
seconds from the clip's first video timestamp, so the writer can keep them (VFR allowed).
"""

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from services.core.errors import BadMedia
from services.media.untrusted import open_media

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipInfo:
    """How a clip is to be decoded, and what its probe found."""

    width: int  # as decoded: the stored size, fitted under a pixel limit
    height: int
    frames: int
    start: float  # seconds: the earliest video timestamp, time zero of every output
    has_audio: bool
    frame_duration: float  # seconds: the nominal frame interval, for a last frame with none
    # Counter-clockwise quarter turns (np.rot90's k) that make a stored frame upright. The
    # output is written upright, with no rotation of its own, since HLS players differ on it.
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


def decoded_frames(
    container: av.container.InputContainer, stream: av.VideoStream, max_pixels: int
) -> Iterator[av.VideoFrame]:
    """Every frame of `stream` that decodes; `BadMedia` if none does, or if one is larger
    than `max_pixels` (the size it was probed at): a hostile file can claim 16000x16000
    in a later keyframe, which the decoder would allocate and the encoder encode."""
    decoded = 0
    try:
        for packet in container.demux(stream):
            try:
                for frame in packet.decode():
                    if frame.width * frame.height > max_pixels:
                        raise BadMedia(
                            f"frame size changed mid-clip to {frame.width}x{frame.height}"
                        )
                    decoded += 1
                    yield frame
            except av.error.InvalidDataError as error:
                # One damaged packet costs its frame, not the clip.
                log.warning("event=corrupt_packet frames=%d error=%r", decoded, str(error))
    except av.error.FFmpegError as error:
        log.warning("event=truncated_clip frames=%d error=%r", decoded, str(error))
    if decoded == 0:
        raise BadMedia("the clip has no decodable video frames")


def frame_seconds(frame: av.VideoFrame) -> float | None:
    """How long `frame` shows, if its stream says."""
    if not frame.duration or not frame.time_base:
        return None
    seconds = float(frame.duration * frame.time_base)
    return seconds if seconds > 0 else None


def decode_batches(path: Path, info: ClipInfo, batch_size: int) -> Iterator[FrameBatch]:
    """Stream the clip's frames as upright RGB batches at `info`'s size."""
    with open_media(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        frames: list[np.ndarray] = []
        times: list[float] = []
        last_time: float | None = None
        last_duration: float | None = None
        for frame in decoded_frames(container, stream, info.stored_pixels):
            time = frame.time
            if time is None:  # no pts: assume the nominal rate
                time = (
                    info.start
                    if last_time is None
                    else info.start + last_time + info.frame_duration
                )
            last_time = time - info.start
            last_duration = frame_seconds(frame)
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
