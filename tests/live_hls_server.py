"""A live HLS origin on 127.0.0.1 for the live-source tests and bench: a real H.264/AAC clip
cut into segments (`cut_segments`), then published one segment at a time on the clock as a
live server would (`live_hls`), over real HTTP (the URL guard lets it through with
`SHARPR_INGEST_ALLOW_HOSTS`).

Timeline: with `preroll` p, segments 0..p-1 are listed when the server starts and segment
i >= p becomes listed once its end on the clip's timeline, counted from the end of segment
p-1, has passed in real time divided by `speed`:
    listed when (now - start) * speed >= end[i] - end[p-1], where end[i] = sum(durations[:i+1]).
So the source publishes each segment as soon as it has been "recorded", like an encoder
writing a live stream. The media playlist is built on every request from that clock.
"""

import bisect
import http.server
import io
import math
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tests.media import moving_pattern

INIT_NAME = "init.mp4"
HOLD_SECONDS = 300  # a held request answers after this at the latest
AUDIO_RATE = 48000
AAC_FRAME_SAMPLES = 1024
CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
}


@dataclass(frozen=True)
class SourceSegment:
    name: str  # file name in the folder: "seg00003.ts" or "seg00003.m4s"
    path: Path
    duration: float  # seconds, from the video timestamps
    frames: int  # video frames in it


@dataclass(frozen=True)
class Variant:
    """An extra variant in the master playlist. Its playlist, `live_{width}x{height}.m3u8`,
    is the same live playlist as `live.m3u8`, so a test tells from `requests` which variant
    a client followed."""

    width: int
    height: int
    bandwidth: int

    @property
    def uri(self) -> str:
        return f"live_{self.width}x{self.height}.m3u8"


def write_live_clip(
    path: Path, *, seconds: float, width: int, height: int, fps: int, segment_seconds: float
) -> int:
    """Write an H.264 (with B-frames, as live encoders send) + AAC MP4 of `moving_pattern`
    frames with a keyframe exactly every `segment_seconds`; returns its frame count."""
    gop = segment_seconds * fps
    if gop < 1 or abs(gop - round(gop)) > 1e-9:
        raise ValueError(f"segment_seconds * fps must be a whole number of frames, got {gop}")
    frames = round(seconds * fps)
    options = {"preset": "veryfast", "g": str(round(gop)), "keyint_min": str(round(gop)),
               "sc_threshold": "0"}
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps, options=options)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = out.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(moving_pattern(i, width, height), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode())
        for start in range(0, round(seconds * AUDIO_RATE), AAC_FRAME_SAMPLES):
            t = np.arange(start, start + AAC_FRAME_SAMPLES, dtype=np.float32) / AUDIO_RATE
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            chunk = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp", layout="stereo")
            chunk.sample_rate, chunk.pts, chunk.time_base = AUDIO_RATE, start, Fraction(1, AUDIO_RATE)
            out.mux(sound.encode(chunk))
        out.mux(sound.encode())
    return frames


def cut_segments(
    clip: Path, folder: Path, *, segment_seconds: float = 2.0, fmp4: bool = False
) -> list[SourceSegment]:
    """Remux `clip` (keyframes every `segment_seconds`) with FFmpeg's own HLS muxer into
    `seg%05d.ts` files, or `seg%05d.m4s` plus `init.mp4` when `fmp4`, in `folder`.

    Frames and durations are measured on the written segments, so they are what a client
    receives; a cut that loses or adds frames raises."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".m4s" if fmp4 else ".ts"
    options = {"hls_time": str(segment_seconds), "hls_playlist_type": "vod",
               "hls_segment_filename": str(folder / f"seg%05d{suffix}")}
    if fmp4:
        options |= {"hls_segment_type": "fmp4", "hls_fmp4_init_filename": INIT_NAME}
    with av.open(str(clip)) as source, av.open(
        str(folder / "cut.m3u8"), "w", format="hls", options=options
    ) as out:
        taken = [s for s in source.streams if s.type in ("video", "audio")]
        streams = {s.index: out.add_stream_from_template(s) for s in taken}
        clip_frames = 0
        for packet in source.demux(*taken):
            if packet.dts is None:  # the demuxer's empty flush packet
                continue
            clip_frames += packet.stream.type == "video"
            packet.stream = streams[packet.stream.index]
            out.mux(packet)
    (folder / "cut.m3u8").unlink()  # the muxer's VOD playlist; the live one is built on the clock
    init = (folder / INIT_NAME).read_bytes() if fmp4 else b""
    segments = [_measure(path, init) for path in sorted(folder.glob(f"seg*{suffix}"))]
    if sum(s.frames for s in segments) != clip_frames:
        raise ValueError(f"cut into {sum(s.frames for s in segments)} frames, clip has {clip_frames}")
    return segments


def _measure(path: Path, init: bytes) -> SourceSegment:
    """Frames, and duration from the first frame's start to the last one's end (by pts)."""
    with av.open(io.BytesIO(init + path.read_bytes())) as container:
        stream = container.streams.video[0]
        packets = [(p.pts, p.duration) for p in container.demux(stream) if p.pts is not None]
    first = min(pts for pts, _ in packets)
    last, length = max(packets)
    duration = float((last + length - first) * stream.time_base)
    return SourceSegment(name=path.name, path=path, duration=duration, frames=len(packets))


@dataclass
class LiveSite:
    url: str  # the media playlist, http://127.0.0.1:PORT/live.m3u8
    master_url: str  # http://127.0.0.1:PORT/master.m3u8
    segments: list[SourceSegment]
    due: list[float]  # seconds after `started` at which each segment becomes listed
    window: int | None
    stall_after: int | None
    missing: frozenset[int]
    fmp4: bool
    speed: float
    started: float = field(default_factory=time.monotonic)
    requests: list[tuple[float, str]] = field(default_factory=list)  # (monotonic, path)
    hold: int | None = None  # requests for this segment wait until `released` is set
    clock_waits: bool = False  # the clock starts at the first media playlist request
    holding: threading.Event = field(default_factory=threading.Event)  # one is waiting
    released: threading.Event = field(default_factory=threading.Event)

    def publish(self, count: int) -> None:
        """Move the clock to where the first `count` segments are listed (all of them: the
        playlist ends); with a tiny `speed` it then stays there, for tests that step."""
        self.started = time.monotonic() - self.due[count - 1]

    def listed(self, now: float | None = None) -> int:
        """Segments published so far (at monotonic time `now`)."""
        elapsed = (time.monotonic() if now is None else now) - self.started
        count = bisect.bisect_right(self.due, elapsed)
        return count if self.stall_after is None else min(count, self.stall_after)

    @property
    def listed_at(self) -> list[float | None]:
        """When each segment was first listed (monotonic), None for one not listed yet."""
        count = self.listed()
        return [self.started + due if i < count else None for i, due in enumerate(self.due)]

    def ended(self, now: float | None = None) -> bool:
        """The playlist carries EXT-X-ENDLIST (never for a stalling source)."""
        return self.stall_after is None and self.listed(now) == len(self.segments)

    def playlist(self, now: float) -> str:
        return media_playlist(self.segments, self.listed(now), window=self.window,
                              fmp4=self.fmp4, ended=self.ended(now))

    def serves(self, index: int, now: float) -> bool:
        """Segment `index` answers once listed, unless `missing`, and (RFC 8216 §6.2.2) for
        the playlist's duration plus its own after it slid out of the window."""
        listed = self.listed(now)
        if index >= listed or index in self.missing:
            return False
        if self.window is None or index + self.window >= listed:
            return True
        removed = self.started + self.due[index + self.window]
        kept = sum(s.duration for s in self.segments[index : index + self.window + 1])
        return now < removed + kept / self.speed


def media_playlist(
    segments: Sequence[SourceSegment], listed: int, *, window: int | None, fmp4: bool, ended: bool
) -> str:
    """The live media playlist with the first `listed` segments published (RFC 8216 §4.3)."""
    first = 0 if window is None else max(0, listed - window)
    # §4.3.3.1: a constant TARGETDURATION that every EXTINF, rounded, stays within.
    target = math.ceil(round(max(s.duration for s in segments), 3))
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{7 if fmp4 else 3}", f"#EXT-X-TARGETDURATION:{target}",
             f"#EXT-X-MEDIA-SEQUENCE:{first}"]
    if window is None:
        lines.append("#EXT-X-PLAYLIST-TYPE:EVENT")  # §4.3.3.5: segments only ever added
    if fmp4:
        lines.append(f'#EXT-X-MAP:URI="{INIT_NAME}"')
    for segment in segments[first:listed]:
        lines += [f"#EXTINF:{segment.duration:.6f},", segment.name]
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def master_playlist(variants: Sequence[tuple[str, Variant]]) -> str:
    """One EXT-X-STREAM-INF per (uri, variant) (RFC 8216 §4.3.4.2); audio is muxed in."""
    lines = ["#EXTM3U"]
    for uri, variant in variants:
        info = f"BANDWIDTH={variant.bandwidth},RESOLUTION={variant.width}x{variant.height}"
        lines += [f"#EXT-X-STREAM-INF:{info}", uri]
    return "\n".join(lines) + "\n"


class _Handler(http.server.BaseHTTPRequestHandler):
    """Routes only: playlists from the site's clock, segment files while the site serves them."""

    protocol_version = "HTTP/1.1"
    site: LiveSite
    master: str
    media: frozenset[str]  # names of the (identical) media playlists
    indexes: dict[str, int]  # segment name -> index
    init: Path | None

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _answer(self, *, body: bool) -> None:
        now = time.monotonic()
        self.site.requests.append((now, self.path))
        name = self.path.split("?", 1)[0].lstrip("/")
        if name == "master.m3u8":
            data = self.master.encode()
        elif name in self.media:
            if self.site.clock_waits:
                self.site.started, self.site.clock_waits = now, False
            data = self.site.playlist(now).encode()
        elif name == INIT_NAME and self.init is not None:
            data = self.init.read_bytes()
        elif name in self.indexes and self.site.serves(self.indexes[name], now):
            if self.indexes[name] == self.site.hold and not self.site.released.is_set():
                self.site.holding.set()  # a fetcher caught mid-segment, for a test to kill
                self.site.released.wait(HOLD_SECONDS)
            data = self.site.segments[self.indexes[name]].path.read_bytes()
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPES[Path(name).suffix])
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Access-Control-Allow-Origin", "*")  # hls.js in a browser test
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def _main_variant(segments: Sequence[SourceSegment], init: bytes) -> Variant:
    """The stream's resolution, and its peak bit rate over one segment (BANDWIDTH, §4.3.4.2)."""
    with av.open(io.BytesIO(init + segments[0].path.read_bytes())) as first:
        video = first.streams.video[0]
        width, height = video.width, video.height
    bandwidth = max(round(s.path.stat().st_size * 8 / s.duration) for s in segments)
    return Variant(width, height, bandwidth)


class _QuietServer(http.server.ThreadingHTTPServer):
    """A client that drops a keep-alive connection (players and fetchers do) is no error."""

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextmanager
def live_hls(
    segments: list[SourceSegment], folder: Path, *, preroll: int = 1, window: int | None = None,
    stall_after: int | None = None, missing: frozenset[int] = frozenset(), fmp4: bool = False,
    speed: float = 1.0, extra_variants: Sequence[Variant] = (), hold: int | None = None,
    clock_waits: bool = False,
) -> Iterator[LiveSite]:
    """Serve `segments` (and `folder/init.mp4` when `fmp4`) as a live stream until the block
    ends: `live.m3u8` on the clock above, `master.m3u8` pointing at it (and `extra_variants`).

    `window`: only the last N listed segments appear (a sliding playlist, no PLAYLIST-TYPE);
    without it the playlist is an EVENT one. `stall_after`: after k segments the playlist
    never changes again and never ends. `missing`: those indexes are listed but answer 404.
    Segments not yet listed answer 404, like any unknown path. `hold`: a request for that
    segment waits until `site.released` is set (`site.holding` says one is waiting).
    `clock_waits`: the clock starts at the first request of a media playlist, not at once
    (a source that goes live as it is asked for, so how long the stack takes to first ask
    does not decide where it joins a sliding window)."""
    if not 1 <= preroll <= len(segments):
        raise ValueError(f"preroll must be 1..{len(segments)}, got {preroll}")
    ends = np.cumsum([s.duration for s in segments])
    due = [max(0.0, float(end - ends[preroll - 1]) / speed) for end in ends]
    init = folder / INIT_NAME if fmp4 else None
    variants = [("live.m3u8", _main_variant(segments, init.read_bytes() if init else b""))]
    variants += [(v.uri, v) for v in extra_variants]
    site = LiveSite(url="", master_url="", segments=segments, due=due, window=window,
                    stall_after=stall_after, missing=missing, fmp4=fmp4, speed=speed, hold=hold,
                    clock_waits=clock_waits)
    handler = type("Handler", (_Handler,), {
        "site": site, "master": master_playlist(variants), "init": init,
        "media": frozenset(uri for uri, _ in variants),
        "indexes": {s.name: i for i, s in enumerate(segments)},
    })
    server = _QuietServer(("127.0.0.1", 0), handler)
    base = f"http://127.0.0.1:{server.server_port}"
    site.url, site.master_url = f"{base}/live.m3u8", f"{base}/master.m3u8"
    # a short poll so leaving the block (server.shutdown) takes milliseconds, not 0.5 s
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    site.started = time.monotonic()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
