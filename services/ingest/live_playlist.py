"""Reads a live HLS media playlist as a window of numbered segments, and says which of them
to take and when to read it again (RFC 8216 §6.3.3, §6.3.4).

Pure: text in, values out; the follower job does the fetching. Playlists are parsed as
`hls_source` parses finished ones (same URL resolution, byte ranges and encryption
refusal). A segment is known by its media sequence number (msn), which is how a window that
slides, jumps or restarts is told apart from one that only grew. Low-latency parts are
ignored: only whole segments count, so a low-latency source is followed at normal latency.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import m3u8

from services.core.errors import Unprocessable
from services.core.schemas import Tier
from services.core.tiers import first_fit, ladder
from services.ingest.hls_source import Part, parse, refuse_encrypted, segment_parts

# RFC 8216 §6.3.3: a client SHOULD NOT start less than this many target durations from
# the end of a live playlist; the server may still be publishing what comes after.
START_HOLD_BACK_TARGETS = 3


@dataclass(frozen=True)
class LiveSegment:
    """One whole segment of a window."""

    msn: int  # media sequence number: EXT-X-MEDIA-SEQUENCE + its index in the window
    part: Part  # the segment's absolute URL (+ byte range)
    duration: float  # EXTINF
    discontinuity: bool  # EXT-X-DISCONTINUITY before it in the source
    init: Part | None  # its EXT-X-MAP (fMP4), None for MPEG-TS


@dataclass(frozen=True)
class LiveWindow:
    """What one reload of a live media playlist lists."""

    media_sequence: int
    target: int  # EXT-X-TARGETDURATION, whole seconds
    segments: tuple[LiveSegment, ...]
    ended: bool  # EXT-X-ENDLIST present: nothing will be added

    @property
    def next_msn(self) -> int:
        """The msn the next new segment will have."""
        return self.media_sequence + len(self.segments)


@dataclass(frozen=True)
class Taken:
    """What to take from a window, given where the follower is."""

    segments: tuple[LiveSegment, ...]  # new segments to take, in order
    missed: int  # msns passed over: the window slid past them before we took them
    restarted: bool  # the media sequence went back (the source restarted)


def read_window(text: str, url: str) -> LiveWindow:
    """The window of the live media playlist `text` fetched from `url`.

    Refused: an encrypted playlist (`source_encrypted`), a master playlist, one without a
    target duration, or one that cannot be read (`unsupported_source`). An empty window (a
    live source that has only just started) is valid.
    """
    playlist = parse(text, url)
    if playlist.is_variant:
        raise Unprocessable(
            "a master HLS playlist where a media playlist was expected", code="unsupported_source"
        )
    # §4.3.3.1: the tag is required; without it (or with 0) there is no reload period.
    if playlist.target_duration is None or playlist.target_duration < 1:
        raise Unprocessable(
            "the HLS playlist has no #EXT-X-TARGETDURATION", code="unsupported_source"
        )
    refuse_encrypted(playlist)
    first = playlist.media_sequence or 0  # §4.3.3.2: absent means 0
    segments = tuple(
        LiveSegment(first + index, part, segment.duration, bool(segment.discontinuity), init)
        for index, (segment, init, part) in enumerate(segment_parts(playlist))
    )
    return LiveWindow(first, playlist.target_duration, segments, playlist.is_endlist)


def start_msn(window: LiveWindow) -> int:
    """Where to start following (§6.3.3): the latest segment that starts at least three
    target durations before the playlist's end, or the first one if the window is shorter.
    A window that has ended is taken whole; an empty one from its next segment."""
    if not window.segments:
        return window.next_msn
    start = window.segments[0].msn
    if window.ended:
        return start
    hold_back = START_HOLD_BACK_TARGETS * window.target
    remaining = sum(segment.duration for segment in window.segments)  # from a start to the end
    for segment in window.segments:
        # Rounded: EXTINF sums such as 3 x 2.002 must not miss the mark by a float's error.
        if round(remaining, 6) < hold_back:
            break
        start = segment.msn
        remaining -= segment.duration
    return start


def new_segments(window: LiveWindow, next_msn: int) -> Taken:
    """The segments of `window` from `next_msn` (the first the follower has not taken) on.

    If the window has slid past `next_msn`, all of it, counting the msns missed. If
    `next_msn` lies beyond the window's end, the media sequence went back: the source
    restarted, and following begins again where a new follower would (`start_msn`).
    """
    if next_msn > window.next_msn:
        start = start_msn(window)
        return Taken(_from(window, start), missed=0, restarted=True)
    missed = max(0, window.media_sequence - next_msn)
    return Taken(_from(window, next_msn), missed=missed, restarted=False)


def _from(window: LiveWindow, msn: int) -> tuple[LiveSegment, ...]:
    return tuple(segment for segment in window.segments if segment.msn >= msn)


def reload_delay(target: int, changed: bool) -> float:
    """Seconds until the next reload (§6.3.4): the target duration after a reload that
    changed the playlist, half of it after one that did not."""
    return float(target) if changed else target / 2


@dataclass(frozen=True)
class Rendition:
    """One version of a live source to choose among: a master playlist's variant or a
    yt-dlp format."""

    url: str
    width: int | None
    height: int | None
    fps: float | None
    bandwidth: int | None  # bits per second


# RFC 6381 sample entries of video (the part of a CODECS item before its first dot).
VIDEO_CODECS = {"avc1", "avc3", "hvc1", "hev1", "dvh1", "dvhe", "av01", "vp09", "vp08", "mp4v"}
# What a rendition that does not say its frame rate is taken to have.
DEFAULT_FPS = 30.0


def closest_to_capacity(
    renditions: list[Rendition], rates: dict[Tier, float], tiers: Sequence[Tier]
) -> tuple[Rendition, Tier]:
    """The rendition of `renditions` (not empty) and the tier of `tiers` (best first) the
    fleet keeps up with best, in the clients' order (`core.tiers.ladder`): the largest
    rendition at the best tier whose measured input pixels per second (`rates`) cover its
    pixel rate, then smaller ones at the fastest tier; if none fits, or nothing is
    measured yet, the smallest at the fastest tier. Never the largest by default: a source
    the fleet cannot keep up with only falls behind. Renditions of known size rank before
    sizeless ones, of which the lowest bandwidth is taken; at equal pixel rates, the
    higher bandwidth (a better picture for the same work)."""
    sized = sorted(
        (rendition for rendition in renditions if _pixel_rate(rendition) is not None),
        key=lambda r: (-(_pixel_rate(r) or 0), -(r.bandwidth or 0)),
    )
    if not sized:
        return min(renditions, key=lambda r: (r.bandwidth is None, r.bandwidth or 0)), tiers[-1]
    steps = ladder(sized, tiers)
    index = first_fit(steps, lambda r: _pixel_rate(r) or 0, rates)
    if index is not None:
        return steps[index]
    return min(sized, key=lambda r: (_pixel_rate(r), -(r.bandwidth or 0))), tiers[-1]


def _pixel_rate(rendition: Rendition) -> float | None:
    if rendition.width is None or rendition.height is None:
        return None
    return rendition.width * rendition.height * (rendition.fps or DEFAULT_FPS)


def pick_live_variant(
    text: str, url: str, rates: dict[Tier, float], tiers: Sequence[Tier]
) -> tuple[str, Tier] | None:
    """The URL of the variant of the master playlist `text` to follow and the tier to run
    it at (`closest_to_capacity`), or None if `text` is a media playlist.

    Audio-only variants are left out. A variant whose audio is only in separate renditions
    (every `EXT-X-MEDIA` of its AUDIO group has a URI) is refused with
    `source_audio_separate`: its own segments carry no sound. A rendition without a URI is
    audio in the variant's own segments (RFC 8216 §4.3.4.1), other languages beside it.
    """
    playlist = parse(text, url)
    if not playlist.is_variant:
        return None
    variants = [variant for variant in playlist.playlists if _has_video(variant.stream_info.codecs)]
    if not variants:
        raise Unprocessable(
            "the HLS master playlist has no video variant", code="unsupported_source"
        )
    renditions = [_variant_rendition(variant) for variant in variants]
    chosen, tier = closest_to_capacity(renditions, rates, tiers)
    variant = next(v for v, rendition in zip(variants, renditions) if rendition is chosen)
    group = variant.stream_info.audio
    audio = [m for m in playlist.media if m.type == "AUDIO" and m.group_id == group]
    if group is not None and audio and all(media.uri for media in audio):
        raise Unprocessable(
            "the live HLS source has its audio only in a separate rendition",
            code="source_audio_separate",
        )
    return chosen.url, tier


def _has_video(codecs: str | None) -> bool:
    """Whether a variant's CODECS names a video codec; without CODECS it may: kept."""
    if not codecs:
        return True
    return any(item.strip().split(".")[0].lower() in VIDEO_CODECS for item in codecs.split(","))


def _variant_rendition(variant: m3u8.Playlist) -> Rendition:
    info = variant.stream_info
    width, height = info.resolution or (None, None)
    return Rendition(variant.absolute_uri, width, height, info.frame_rate, info.bandwidth)


def pick_live_format(
    formats: list[dict], rates: dict[Tier, float], tiers: Sequence[Tier]
) -> tuple[dict, Tier]:
    """The format to follow among yt-dlp's `info["formats"]` of a live video (YouTube),
    and its tier: HLS video formats only, of those the ones with their audio in them, then
    `closest_to_capacity`. `unsupported_source` without any HLS video format;
    `source_audio_separate` when every one has its audio elsewhere."""
    video = [
        fmt
        for fmt in formats
        if fmt.get("protocol") in ("m3u8", "m3u8_native")
        and fmt.get("vcodec") != "none"
        and fmt.get("url")
    ]
    if not video:
        raise Unprocessable("the live video has no HLS video format", code="unsupported_source")
    # yt-dlp says "none" for a codec a format certainly lacks (None: it does not know).
    with_audio = [fmt for fmt in video if fmt.get("acodec") != "none"]
    if not with_audio:
        raise Unprocessable(
            "the live video has its audio only in a separate format", code="source_audio_separate"
        )
    renditions = [_format_rendition(fmt) for fmt in with_audio]
    chosen, tier = closest_to_capacity(renditions, rates, tiers)
    return next(f for f, rendition in zip(with_audio, renditions) if rendition is chosen), tier


def _format_rendition(fmt: dict) -> Rendition:
    tbr = fmt.get("tbr")  # kbit/s
    return Rendition(
        fmt["url"],
        fmt.get("width"),
        fmt.get("height"),
        fmt.get("fps"),
        None if tbr is None else round(tbr * 1000),
    )
