"""The whole enhanced video as one MP4 (`keys.download_key`), written when a stream ends.

It is assembled from what the playlist published: the clips' parts, in playlist order,
concatenated by copying packets. Every part is H.264 + AAC from the same encoder settings,
and part n is shifted to start where part n-1's video ended, the same timeline the
playlist uses. Called by the packager just before it marks the stream
`ended`, so a client that sees `ended` can fetch the download at once.
"""

import asyncio
import logging
import tempfile
from fractions import Fraction
from pathlib import Path

from services.core import keys
from services.core.storage import ObjectStore
from services.media.remux import RemuxOutput, RemuxSource, shift

log = logging.getLogger(__name__)


async def write_download(store: ObjectStore, stream_id: str, parts: list[tuple[int, int]]) -> None:
    """Concatenate the published parts `(seq, n)` (in order) and upload the MP4.

    Never raises: the download is an extra, and the stream must end (its playlist is
    already closed) whether or not it could be written; the API then answers 404.
    """
    if not parts:
        return
    try:
        with tempfile.TemporaryDirectory(prefix=f"sharpr-download-{stream_id}-") as tmp:
            clips = []
            for seq, n in parts:
                path = Path(tmp) / f"{seq:06d}_{n:03d}.mp4"
                await store.download_file(keys.output_part_key(stream_id, seq, n), path)
                clips.append(path)
            joined = Path(tmp) / "enhanced.mp4"
            seconds = await asyncio.to_thread(concatenate, clips, joined)
            await store.put_file(keys.download_key(stream_id), joined)
    except Exception:
        log.exception("event=download_not_written stream=%s parts=%d", stream_id, len(parts))
        return
    log.info("event=download_written stream=%s parts=%d seconds=%.3f", stream_id, len(parts), seconds)


def concatenate(clips: list[Path], dest: Path) -> float:
    """Copy every clip's video and first audio track into `dest`; returns its seconds."""
    offset = Fraction(0)
    output: RemuxOutput | None = None
    last: dict[str, Fraction] = {}  # the latest dts muxed per track, in seconds
    try:
        for path in clips:
            with RemuxSource(path) as clip:
                output = output or RemuxOutput(dest, clip.tracks, "mp4")
                end = Fraction(0)
                for packet in clip.packets():
                    if not output.accepts(packet):
                        continue  # a later clip with audio when the first had none
                    if (span := clip.video_span(packet)) is not None:
                        end = max(end, span[1])
                    shift(packet, offset - clip.start)
                    # A clip's audio runs a few ms past its video (AAC frames are whole);
                    # the next clip's audio starts at the video's end, so the overlap goes.
                    kind, at = packet.stream.type, packet.dts * packet.time_base
                    if at <= last.get(kind, Fraction(-1)):
                        continue
                    last[kind] = at
                    output.mux(packet)
                offset += end
    finally:
        if output is not None:
            output.close()
    return float(offset)
