"""Lossless PNG frames in a directory, for quality checks of the upscaler: the writer
`sharpr upscale` uses when its output is a directory instead of an MP4."""

from pathlib import Path

import av

from services.media.reader import FrameBatch


class PngWriter:
    """Frame n of the video as `{n:06d}.png`, from 1."""

    def __init__(self, directory: Path, width: int, height: int) -> None:
        self.directory = directory
        self.width, self.height = width, height
        self.count = 0

    def write(self, batch: FrameBatch) -> None:
        for image in batch.frames:
            self.count += 1
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            with av.open(
                str(self.directory / f"{self.count:06d}.png"), "w", format="image2"
            ) as out:
                stream = out.add_stream("png")
                stream.width, stream.height, stream.pix_fmt = frame.width, frame.height, "rgb24"
                out.mux(stream.encode(frame))
                out.mux(stream.encode(None))

    def close(self, end: float) -> None:
        """Nothing buffered: every frame is already a file."""

    def abort(self) -> None:
        """Frames written so far stay for inspection."""
