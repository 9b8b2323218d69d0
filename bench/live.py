"""Live-source benchmark: how far the enhanced stream runs behind a live HLS source.

A real H.264/AAC clip (moving pattern, a keyframe every segment) is cut into MPEG-TS
segments and published one at a time on the clock over loopback, as a live encoder's
origin would (`tests/live_hls_server.py`). A `sharpr up` stack of our own, started as
bench/realtime.py starts it with 127.0.0.1 let through the ingest's URL guard, is asked to
follow it (`POST /v1/videos`); a thread reads the enhanced playlist every quarter second
and notes when each clip's first segment appeared. A clip's delay is that moment minus the
moment its source segment was first listed, both on this process's monotonic clock, so it
counts everything a viewer waits for: the follower's reload period, fetching, upscaling,
encoding and packaging. The first clip's delay also holds the start (yt-dlp probing the
URL, choosing the variant).

Reports the delay per clip (first, median, p90, max and its least-squares trend over the
source's timeline: > 0 means the stack falls behind), what the stream's status says of
following (segments taken, missing, seconds skipped to catch up, its own delay for the
newest clip), the workers' real-time factor, the CPU model and the CPU seconds of each
process of the stack (`client` is this process: it serves the source and reads the playlist).

    python -m bench.live [--seconds 60] [--width 256 --height 144 --fps 12] [--redis-db 10] [--keep]
"""

import argparse
import math
import re
import shutil
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from bench.realtime import (
    cpu_model,
    cpu_report,
    cpu_seconds,
    poll_playlist,
    slope,
    start_stack,
    stop_stack,
)
from tests.live_hls_server import LiveSite, cut_segments, live_hls, write_live_clip

POLL_SECONDS = 0.25
WAIT_AFTER_SOURCE_SECONDS = 120  # for the enhanced stream to end once the source has
STATUS_WAIT_SECONDS = 10
FIRST_SEGMENT = re.compile(r"^(\d+)_000\.\w+$", re.MULTILINE)  # keys.segment_name(seq, 0)


@dataclass
class ClipWatch:
    """When each enhanced clip first showed in the playlist (by its first segment), and when
    the playlist ended."""

    url: str
    seen_at: dict[int, float] = field(default_factory=dict)  # clip seq -> monotonic time
    ended_at: float | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        poll_playlist(self.url, self.stop, self._seen, POLL_SECONDS)

    def _seen(self, text: str, now: float) -> None:
        for seq in FIRST_SEGMENT.findall(text):
            self.seen_at.setdefault(int(seq), now)
        if "#EXT-X-ENDLIST" in text and self.ended_at is None:
            self.ended_at = now


@dataclass(frozen=True)
class ClipDelay:
    seq: int
    source: int  # index of the source segment the clip was made from
    listed: float  # seconds after the source started that the segment was listed
    delay: float  # seconds from then until the clip showed in the enhanced playlist


def taken_sources(site: LiveSite) -> list[int]:
    """Source segment indexes in the order the follower fetched them: clip seq k is the
    k-th. The follower may start past segment 0 (three target durations from the live
    edge) and skips segments when it falls behind, so seq and index can differ."""
    indexes = {segment.name: index for index, segment in enumerate(site.segments)}
    order: list[int] = []
    for _, path in list(site.requests):
        index = indexes.get(path.split("?", 1)[0].lstrip("/"))
        if index is not None and index not in order and index not in site.missing:
            order.append(index)
    return order


def clip_delays(watch: ClipWatch, site: LiveSite) -> list[ClipDelay]:
    listed_at = site.listed_at
    return [
        ClipDelay(seq, index, listed_at[index] - site.started, watch.seen_at[seq] - listed_at[index])
        for seq, index in enumerate(taken_sources(site))
        if seq in watch.seen_at and listed_at[index] is not None
    ]


def percentile(values: list[float], share: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def follow_source(api: str, site: LiveSite, mode: str, scale: int) -> dict:
    """Ask the stack to follow `site`, watch the enhanced playlist until it ends (or a
    while after the source has), and read the stream's final status."""
    client = httpx.Client(timeout=30)
    accepted = client.post(f"{api}/v1/videos", json={"url": site.url, "mode": mode, "scale": scale})
    accepted.raise_for_status()
    stream = accepted.json()
    watch = ClipWatch(stream["playlist_url"])
    watcher = threading.Thread(target=watch.run, daemon=True)
    watcher.start()
    deadline = site.started + site.due[-1] + WAIT_AFTER_SOURCE_SECONDS
    while watch.ended_at is None and time.monotonic() < deadline:
        time.sleep(0.5)
    watch.stop.set()
    watcher.join()
    return {"stream": stream, "status": final_status(client, api, stream), "watch": watch,
            "delays": clip_delays(watch, site)}


def final_status(client: httpx.Client, api: str, stream: dict) -> dict:
    """The stream's status once it has left `ending` (its last clips being packaged), or
    as it is after STATUS_WAIT_SECONDS."""
    deadline = time.monotonic() + STATUS_WAIT_SECONDS
    while True:
        response = client.get(f"{api}/v1/streams/{stream['id']}", headers={"Authorization": f"Bearer {stream['token']}"})
        response.raise_for_status()
        status = response.json()
        if status["state"] in ("ended", "failed") or time.monotonic() > deadline:
            return status
        time.sleep(0.5)


def report(result: dict, site: LiveSite, size: str) -> None:
    status, watch = result["status"], result["watch"]
    delays: list[ClipDelay] = result["delays"]
    values = [d.delay for d in delays]
    live = status.get("live") or {}
    clips = status["clips"]
    enhanced = [c for c in clips if c.get("duration") and c["timings"].get("wall")]
    factor = sum(c["duration"] for c in enhanced) / sum(c["timings"]["wall"] for c in enhanced) if enhanced else 0.0
    source_end = site.started + site.due[-1]
    published = sum(s.duration for s in site.segments)
    first_taken = f"; the follower started at source segment {delays[0].source}" if delays else ""
    rows = [
        ("CPU", cpu_model()),
        ("source", f"{size}, {len(site.segments)} segments, {published:.1f} s, H.264/AAC MPEG-TS"),
        ("stream", f"{status['state']}" + (f" ({status['error']})" if status.get("error") else "")),
        ("clips in the enhanced playlist", f"{len(watch.seen_at)} of {len(site.segments)} source segments{first_taken}"),
        ("delay of the first clip (with the start)", f"{values[0]:.1f} s" if values else "none appeared"),
        ("delay median / p90 / max", (f"{statistics.median(values):.1f} / {percentile(values, 0.9):.1f} / "
                                      f"{max(values):.1f} s") if values else "-"),
        ("delay trend (least squares over the source)", f"{slope([(d.listed, d.delay) for d in delays]):+.4f} s/s"),
        ("enhanced stream ended after the source", f"{watch.ended_at - source_end:.1f} s" if watch.ended_at
         else f"not within {WAIT_AFTER_SOURCE_SECONDS} s"),
        ("status: taken / missing / skipped", (f"{live.get('segments_taken')} segments ({live.get('seconds_taken', 0):.1f} s)"
                                               f" / {live.get('segments_missing')} / {live.get('skipped_seconds')} s")),
        ("status: delay of the newest clip", f"{live.get('delay_seconds')} s (from the follower's reload)"),
        ("workers' real-time factor", f"{factor:.2f} (clip seconds per second of worker wall time)"),
        ("degraded / failed clips", (f"{sum(c.get('degraded', False) for c in clips)} / "
                                    f"{sum(c['state'] == 'failed' for c in clips)}")),
    ]
    width = max(len(name) for name, _ in rows)
    print()
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print("\ndelay per clip (seq:seconds): " + "  ".join(f"{d.seq}:{d.delay:.1f}" for d in delays))
    print("worker wall time per clip (s): " + "  ".join(f"{c['seq']}:{c['timings']['wall']:.1f}" for c in enhanced))


def machine_cpu() -> tuple[float, float]:
    """(busy, stolen) CPU seconds of the whole machine so far: what the stack and this
    process did not use of `busy` was other work, and `stolen` went to the hypervisor's
    other guests; either slows the stack down."""
    times = psutil.cpu_times()
    busy = times.user + times.nice + times.system + times.irq + times.softirq
    return busy, times.steal


def other_cpu(before: tuple[dict[str, float], tuple[float, float]],
              after: tuple[dict[str, float], tuple[float, float]]) -> str:
    ours = sum(after[0].values()) - sum(before[0].values())
    busy, stolen = (a - b for a, b in zip(after[1], before[1]))
    return f"other processes {max(0.0, busy - ours):.0f} s, stolen by the hypervisor {stolen:.0f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the live source")
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--height", type=int, default=144)
    parser.add_argument("--fps", type=int, default=12)
    parser.add_argument("--segment", type=float, default=2.0, help="source segment length in seconds")
    parser.add_argument("--mode", default="anime")
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=Path(".sharpr"), help="where converted weights and the kernel are")
    parser.add_argument("--redis-db", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (source, stack.log) afterwards")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sharpr-live-"))
    print(f"work folder {work} (the stack's log: stack.log)", flush=True)
    try:
        clip = work / "source.mp4"
        write_live_clip(clip, seconds=args.seconds, width=args.width, height=args.height, fps=args.fps,
                        segment_seconds=args.segment)
        segments = cut_segments(clip, work / "site", segment_seconds=args.segment)
        print("starting sharpr up ...", flush=True)
        api, stack = start_stack(work, args.cache.resolve(), args.redis_db,
                                 {"SHARPR_INGEST_ALLOW_HOSTS": '["127.0.0.1"]'})
        try:
            tree = psutil.Process(stack.pid)
            before, began = (cpu_seconds(tree), machine_cpu()), time.monotonic()
            with live_hls(segments, work / "site") as site:
                print(f"source {site.url}: {args.width}x{args.height}@{args.fps}, {len(segments)} x "
                      f"{args.segment:g} s; api {api}", flush=True)
                result = follow_source(api, site, args.mode, args.scale)
            report(result, site, f"{args.width}x{args.height}@{args.fps}")
            after = (cpu_seconds(tree), machine_cpu())
            print("CPU by process over the run: " + cpu_report(before[0], after[0], time.monotonic() - began))
            print("CPU of the rest of the machine: " + other_cpu(before, after))
        finally:
            stop_stack(stack)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
