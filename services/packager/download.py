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

import av

from services.core import keys
from services.core.storage import ObjectStore
from services.packager.segmenter import frame_length

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
        log.exception("download not written stream=%s parts=%d", stream_id, len(parts))
        return
    log.info("download written stream=%s parts=%d seconds=%.3f", stream_id, len(parts), seconds)


def concatenate(clips: list[Path], dest: Path) -> float:
    """Copy every clip's video and first audio track into `dest`; returns its seconds."""
    offset = Fraction(0)
    with av.open(str(dest), "w", format="mp4") as out:
        outputs: dict[str, av.stream.Stream] = {}
        last: dict[str, Fraction] = {}  # the latest dts muxed per track, in seconds
        for path in clips:
            with av.open(str(path)) as container:
                video = container.streams.video[0]
                copied = [video, *container.streams.audio[:1]]
                for stream in copied:
                    if stream.type not in outputs:
                        outputs[stream.type] = out.add_stream_from_template(stream)
                start = Fraction(video.start_time or 0) * video.time_base
                end = start
                for packet in container.demux(copied):
                    if packet.dts is None:  # the flush packet that ends each stream
                        continue
                    if packet.stream.type not in outputs:
                        continue  # a later clip with audio when the first had none
                    source = packet.stream
                    if source.index == video.index and packet.pts is not None:
                        end = max(end, packet.pts * source.time_base + frame_length(packet, video))
                    # Packets keep their clip's time base; PyAV rescales them when muxing.
                    shift = round((offset - start) / source.time_base)
                    packet.dts += shift
                    if packet.pts is not None:
                        packet.pts += shift
                    # A clip's audio runs a few ms past its video (AAC frames are whole);
                    # the next clip's audio starts at the video's end, so the overlap goes.
                    at = packet.dts * source.time_base
                    if at <= last.get(source.type, Fraction(-1)):
                        continue
                    last[source.type] = at
                    packet.stream = outputs[source.type]
                    out.mux(packet)
                offset += end - start
    return float(offset)
