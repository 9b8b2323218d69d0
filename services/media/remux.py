"""Copying packets between files without re-encoding, their timestamps moved by an offset.

Every remux in the project is this one act: open a file's video and first audio track,
demux, and mux each packet into an output whose tracks copy the input's, shifted so the
output lands where it belongs (on a stream's timeline, at zero for a clip of its own,
after the previous file). Nothing is decoded, so it is lossless and fast.
"""

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Self

import av

from services.media.probe import frame_length
from services.media.untrusted import open_media


class RemuxSource:
    """A file opened for copying: its video track, its first audio track, and where its
    video starts (seconds, on the file's own timeline)."""

    def __init__(self, path: Path) -> None:
        self.container = open_media(path)
        if not self.container.streams.video:
            self.container.close()
            raise ValueError(f"{path} has no video stream")
        self.video = self.container.streams.video[0]
        self.tracks: list[av.stream.Stream] = [self.video, *self.container.streams.audio[:1]]
        self.start = Fraction(self.video.start_time or 0) * self.video.time_base

    def packets(self) -> Iterator[av.Packet]:
        for packet in self.container.demux(self.tracks):
            # Demuxing ends with one empty packet per stream (no data, no timestamps) that
            # exists to flush decoders; muxing it would write an empty sample.
            if packet.dts is None:
                continue
            yield packet

    def is_video(self, packet: av.Packet) -> bool:
        return packet.stream_index == self.video.index

    def time(self, packet: av.Packet) -> Fraction | None:
        """Seconds from the video's start to `packet`'s presentation, if it has one."""
        if packet.pts is None:
            return None
        return packet.pts * packet.stream.time_base - self.start

    def video_span(self, packet: av.Packet) -> tuple[Fraction, Fraction] | None:
        """(start, end) of a video `packet`'s showing, in seconds from the video's start;
        None for audio and for a packet with no timestamp."""
        at = self.time(packet) if self.is_video(packet) else None
        return None if at is None else (at, at + frame_length(packet, self.video))

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def shift(packet: av.Packet, seconds: Fraction) -> None:
    """Move `packet` by `seconds`, rounded to its own time base."""
    ticks = round(seconds / packet.time_base)
    packet.dts += ticks
    if packet.pts is not None:
        packet.pts += ticks


class RemuxOutput:
    """An output file with one track per kind (video, audio) copied from `tracks`."""

    def __init__(self, path: Path, tracks: list[av.stream.Stream], format: str) -> None:
        self.container = av.open(str(path), "w", format=format)
        self.streams = {
            track.type: self.container.add_stream_from_template(track) for track in tracks
        }

    def accepts(self, packet: av.Packet) -> bool:
        return packet.stream.type in self.streams

    def mux(self, packet: av.Packet) -> None:
        """Mux `packet` (already shifted) into the track of its kind."""
        packet.stream = self.streams[packet.stream.type]
        self.container.mux(packet)

    def close(self) -> None:
        self.container.close()
