"""A whole video re-encoded to our MP4, for a source that cannot be cut by copying packets.

Its codecs may not go into MP4 or MPEG-TS for the browser (VP8, Opus...), or its keyframes
may lie too far apart to cut clips at; the writer's file has neither problem. Frames go
from the decoder to the encoder as they are (no RGB round trip), scaled only to even sides.
"""

import itertools
from fractions import Fraction
from pathlib import Path

from services.core.errors import BadMedia
from services.media.audio import audio_chunks
from services.media.probe import DEFAULT_RATE
from services.media.reader import decoded_frames, frame_seconds
from services.media.untrusted import open_media
from services.media.writer import VideoWriter


def reencode(source: Path, dest: Path, *, keyframe_seconds: float, preset: str) -> None:
    """`source`'s first video and audio tracks as an MP4 from `VideoWriter`, starting at zero."""
    with open_media(source) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = Fraction(stream.average_rate or stream.guessed_rate or DEFAULT_RATE)
        nominal = float(1 / rate)
        # The size it was probed at: the decoder changes the context's size to each frame's.
        width, height = stream.codec_context.width, stream.codec_context.height
        decoded = decoded_frames(container, stream, width * height)
        frames = (frame for frame in decoded if frame.time is not None)
        first = next(frames, None)
        if first is None:
            raise BadMedia("the video track holds no frames", code="not_video")
        start = first.time
        audio = audio_chunks(source, start) if container.streams.audio else None
        with VideoWriter(
            dest, width, height, keyframe_seconds=keyframe_seconds, preset=preset, audio=audio,
            frame_rate=rate,
        ) as writer:
            end = 0.0
            for frame in itertools.chain([first], frames):
                # Read before writing: `reformat` returns the frame itself when it has the
                # size and format already, and the writer re-times what it is given.
                at, length = frame.time - start, frame_seconds(frame) or nominal
                image = frame.reformat(width=writer.width, height=writer.height, format="yuv420p")
                writer.write_frame(image, at)
                end = at + length
            writer.close(end)
