"""One live source segment, fetched and made into what the stream needs: an MP4 clip from
zero for the workers, and a segment of the original playlist on the stream's timeline.

A segment is taken whole: MPEG-TS as it is, fMP4 after its `#EXT-X-MAP` init section (the
two make one playable file). Its packets are copied when the codecs can go on to the
browser (H.264/AAC), else the segment is re-encoded, as a whole video would be.
"""

from fractions import Fraction
from pathlib import Path

from services.core.settings import Settings
from services.ingest.fetch import Fetcher
from services.ingest.live_playlist import LiveSegment
from services.ingest.splitter import probe_source, reencode_reason, split
from services.media.reencode import reencode
from services.media.segments import remux_part


def fetch_segment(fetcher: Fetcher, segment: LiveSegment, headers: dict[str, str], folder: Path) -> Path:
    """The segment (after its init section, if any) as one local file."""
    dest = folder / "segment"
    dest.write_bytes(b"")
    for part in ([segment.init] if segment.init is not None else []) + [segment.part]:
        fetcher.download(part.url, dest, headers, append=True, byte_range=part.byte_range)
    return dest


def segment_clip_file(source: Path, folder: Path, settings: Settings) -> Path:
    """The segment as an MP4 clip whose timestamps start at zero."""
    cuts = [Fraction(0)]
    if reencode_reason(probe_source(source, settings), cuts, settings.clip_max_seconds) is not None:
        encoded = folder / "reencoded.mp4"
        reencode(source, encoded, keyframe_seconds=settings.segment_seconds, preset=settings.encoder_preset)
        source = encoded
    (clip,) = split(source, folder, cuts)
    return clip.path


def original_segment_file(clip: Path, dest: Path, offset: float) -> float:
    """The clip as a TS segment of the original playlist at `offset` seconds of the stream's
    timeline (where its enhanced clip lands too); returns its duration."""
    return remux_part(clip, dest, offset=offset)
