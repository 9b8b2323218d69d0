"""Audio: a file's first track decoded to 48 kHz stereo, and the AAC track of an output.

Every file the writer makes has the same audio (AAC, 48 kHz, stereo) laid from time zero
to the video's end without a gap, silence where the input had none, so every HLS segment
carries the same tracks and clip n's audio ends exactly where clip n+1's begins.
"""

import logging
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from services.media.untrusted import open_media

log = logging.getLogger(__name__)

AUDIO_RATE = 48000
AAC_FRAME_SAMPLES = 1024  # what each AAC packet holds
# Audio is re-timed to its container timestamps only when it drifts more than this
# from the sample count; smaller differences are rounding jitter.
AUDIO_SLACK = AUDIO_RATE // 50
SILENCE_CHUNK = 4800

# (first sample index from the video's start, (2, n) float32 samples)
AudioChunk = tuple[int, np.ndarray]
PacketSink = Callable[[list[av.Packet]], None]


def audio_chunks(path: Path, start: float) -> Iterator[AudioChunk]:
    """`path`'s first audio track at 48 kHz stereo, placed by its timestamps from `start`."""
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE)
    with open_media(path) as container:
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


class AacTrack:
    """Lays audio chunks onto a gapless timeline from time zero and encodes them to AAC.

    Its packets go to `mux`, so the writer decides where they land (the file, and the
    part files beside it).
    """

    def __init__(
        self, container: av.container.OutputContainer, source: Iterator[AudioChunk], mux: PacketSink
    ) -> None:
        self.stream = container.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
        self.stream.time_base = Fraction(1, AUDIO_RATE)
        self.source, self.mux = source, mux
        self.written = 0
        self.pending: AudioChunk | None = None

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
                # Silence up to the chunk, never past `end`: a crafted track stamped hours
                # after its video would otherwise be padded up to for as long as that.
                self._silence(min(position, end))
                if position >= end:
                    self.pending = chunk
                    return
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
        self.mux(self.stream.encode(None))

    def _silence(self, end: int) -> None:
        while self.written < end:
            self._encode(np.zeros((2, min(SILENCE_CHUNK, end - self.written)), np.float32))

    def _encode(self, samples: np.ndarray) -> None:
        if samples.shape[1] == 0:
            return
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples), format="fltp", layout="stereo"
        )
        frame.sample_rate = AUDIO_RATE
        frame.pts = self.written
        frame.time_base = Fraction(1, AUDIO_RATE)
        self.mux(self.stream.encode(frame))
        self.written += samples.shape[1]
