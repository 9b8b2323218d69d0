"""Sample videos made with PyAV, in the formats a browser records and a user uploads.

`sharpr up --demo` sends one through the stack; the tests use the same clips.
"""

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def moving_pattern(index: int, width: int, height: int) -> np.ndarray:
    """A frame with gradients, edges and motion, so codecs and the model see real content."""
    y, x = np.mgrid[0:height, 0:width]
    r = (x * 255 // max(width - 1, 1) + index * 7) % 256
    g = (y * 255 // max(height - 1, 1)) % 256
    b = (((x // 8 + y // 8 + index) % 2) * 200 + 30)
    frame = np.stack([r, g, np.broadcast_to(b, r.shape)], axis=-1).astype(np.uint8)
    bar = (index * 3) % max(width - 8, 1)
    frame[:, bar : bar + 6] = 255
    return frame


def write_clip(
    path: Path, *, seconds: float = 2.0, width: int = 64, height: int = 36, fps: int = 15,
    audio: bool = True,
    draw: Callable[[int, int, int], np.ndarray] = moving_pattern,
) -> int:
    """Write a clip (WebM: VP8 + Opus; MP4: H.264 + AAC) of `draw(index, width, height)`
    frames; returns the frame count."""
    webm = path.suffix == ".webm"
    frames = round(seconds * fps)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libvpx" if webm else "libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        if not webm:
            video.options = {"preset": "ultrafast"}
        sound = None
        if audio:
            sound = out.add_stream("libopus" if webm else "aac", rate=48000)
            sound.layout = "stereo"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(draw(i, width, height), format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode())
        if sound is not None:
            _write_tone(out, sound, seconds)
    return frames


def _write_tone(out: av.container.OutputContainer, sound: av.audio.stream.AudioStream, seconds: float) -> None:
    rate, size = 48000, 960
    total = int(seconds * rate)
    for start in range(0, total, size):
        t = (np.arange(start, start + size) / rate).astype(np.float32)
        tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp", layout="stereo")
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        out.mux(sound.encode(frame))
    out.mux(sound.encode())
