"""A file's segments as MP4s of their own, each handed on the moment it is complete.

So a segment can be published before the rest of its clip is encoded. A part opens at
each video keyframe (the writer forces them only at segment edges) and closes, going to
`on_part`, when the next one opens or the file ends. Its timestamps are rebased to its
first frame, so every part is an ordinary short clip that the packager shifts onto the
stream's timeline.
"""

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from services.media.remux import RemuxOutput, shift


@dataclass(frozen=True)
class PartFile:
    """One segment's worth of a file as its own MP4, timestamps from its first frame."""

    index: int
    path: Path
    start: float  # seconds: where it begins on the file's timeline


PartCallback = Callable[[PartFile], None]


class PartSplitter:
    """Muxes packets into `template`, and a copy of each into the open part.

    Audio runs ahead of the video packets (the encoder's lookahead), so an audio packet
    waits until the part its time falls in is open.
    """

    def __init__(
        self, directory: Path, template: av.container.OutputContainer, on_part: PartCallback
    ) -> None:
        self.directory, self.template, self.on_part = directory, template, on_part
        self.cuts: list[Fraction] = []  # seconds of every keyframe forced so far
        self.part: RemuxOutput | None = None
        self.index = -1
        self.start = Fraction(0)
        self.waiting: list[av.Packet] = []  # audio ahead of the open part

    def mux(self, packets: list[av.Packet]) -> None:
        """Mux `packets` into the template's container, and a copy of each into the parts."""
        for packet in packets:
            # The muxer takes the packet's data, so the copy is made first; the part is
            # opened after, once the template's header (H.264's SPS/PPS) is written.
            copy = av.Packet(bytes(packet))
            copy.pts, copy.dts, copy.duration = packet.pts, packet.dts, packet.duration
            copy.time_base, copy.is_keyframe = packet.time_base, packet.is_keyframe
            copy.stream = packet.stream
            self.template.mux(packet)
            if copy.stream.type == "video":
                if copy.is_keyframe:
                    self._open_next(copy.pts * copy.time_base)
                self._write(copy)
            else:
                self.waiting.append(copy)
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
        self.part = RemuxOutput(self._path(), list(self.template.streams), "mp4")

    def _release_audio(self, everything: bool = False) -> None:
        if self.part is None:
            return
        index = self.index + 1
        end = self.cuts[index] if index < len(self.cuts) else None
        keep = []
        for packet in self.waiting:
            if everything or end is None or packet.pts * packet.time_base < end:
                self._write(packet)
            else:
                keep.append(packet)
        self.waiting = keep

    def _write(self, packet: av.Packet) -> None:
        assert self.part is not None
        shift(packet, -self.start)
        self.part.mux(packet)

    def _path(self) -> Path:
        return self.directory / f"part_{self.index:03d}.mp4"

    def _close_part(self) -> None:
        assert self.part is not None
        self.part.close()
        self.part = None
        self.on_part(PartFile(self.index, self._path(), float(self.start)))
