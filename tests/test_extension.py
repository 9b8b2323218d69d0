"""The Chrome extension in Debian's chromium: it loads, records clips the real stack enhances,
and its player plays the enhanced stream, picking up clips that arrive while it plays.

The last test starts it as a user's click does: Chromium lets an allowlisted extension's
service worker call chrome.action.openPopup(), and the popup's start is then a user gesture
for chrome.tabCapture. The other tests feed the recorder a canvas captureStream() plus an
oscillator; everything after that is the extension's own code.
"""

import functools
import hashlib
import io
import json
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urljoin

import av
import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, sync_playwright

from services.core import keys, localservers
from services.core.settings import get_settings
from tests.api_client import send_clip
from tests.conftest import Stack
from tests.media import write_clip
from tests.stream_checks import object_bytes

pytestmark = pytest.mark.browser

EXTENSION = Path(__file__).resolve().parent.parent / "extension"
CHROMIUM = "/usr/bin/chromium"
WIDTH, HEIGHT, CLIP_SECONDS = 64, 36, 2


@pytest.fixture(scope="session")
def extension_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The loadable folder exactly as `npm run build` makes it (needs `npm ci` in extension/)."""
    out = tmp_path_factory.mktemp("extension") / "dist"
    subprocess.run(["node", str(EXTENSION / "build.mjs"), "--out", str(out)], check=True)
    return out


def chromium_args(extension_dir: Path) -> list[str]:
    """What every test browser runs with: no background traffic (this machine's network is
    closed), autoplay without a gesture, and the unpacked extension loaded."""
    return [
        "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--autoplay-policy=no-user-gesture-required",
        f"--disable-extensions-except={extension_dir}", f"--load-extension={extension_dir}",
    ]


@pytest.fixture
def browser(extension_dir: Path, tmp_path: Path) -> Iterator[BrowserContext]:
    """A fresh profile with the unpacked extension; new headless mode runs extensions."""
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path / "profile",
            executable_path=CHROMIUM,
            headless=True,
            ignore_default_args=["--disable-extensions"],
            args=chromium_args(extension_dir),
        )
        yield context
        context.close()


@pytest.fixture
def extension_url(browser: BrowserContext) -> Callable[[str], str]:
    worker = browser.service_workers[0] if browser.service_workers else browser.wait_for_event("serviceworker")
    base = worker.url.rsplit("/", 1)[0]
    return lambda page: f"{base}/{page}"


def wait_until(check: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_in_page(page: Page, expression: str, timeout: float) -> None:
    """Poll `expression` with page.evaluate: wait_for_function evals a string, which MV3's CSP forbids."""
    wait_until(lambda: page.evaluate(expression), timeout, expression)


def stream_state(api_url: str, stream: dict) -> dict:
    response = httpx.get(f"{api_url}/v1/streams/{stream['id']}", headers={"Authorization": f"Bearer {stream['token']}"})
    response.raise_for_status()
    return response.json()


def test_unpacked_extension_loads_as_mv3_with_its_service_worker(extension_dir, browser, extension_url):
    manifest = json.loads((extension_dir / "manifest.json").read_text())
    assert manifest["manifest_version"] == 3
    assert set(manifest["permissions"]) == {"activeTab", "offscreen", "scripting", "storage", "tabCapture"}
    for page in ("popup.html", "player.html", "offscreen.html", "options.html", "service-worker.js", "video-finder.js", "vendor/hls.mjs"):
        assert (extension_dir / page).is_file(), page
    worker = browser.service_workers[0]
    assert worker.url == extension_url("service-worker.js")
    assert worker.evaluate("chrome.runtime.getManifest().background.type") == "module"

    # The popup asks the service worker to enhance the tab it sits in, an extension page:
    # the worker refuses in words, and the refusal is kept in session storage.
    page = browser.new_page()
    page.goto(extension_url("popup.html"))
    wait_in_page(page, "document.getElementById('error').textContent.length > 0", 10)
    assert "does not allow recording" in page.locator("#error").inner_text()
    stored = worker.evaluate("chrome.storage.session.get('capture')")
    assert stored["capture"]["state"] == "failed"
    assert stored["capture"]["error"]["code"] == "unsupported_page"


def test_options_page_saves_the_model_setting(browser, extension_url):
    page = browser.new_page()
    page.goto(extension_url("options.html"))
    model = page.get_by_label("Model")
    wait_until(lambda: model.input_value() == "auto", 10, "the stored options filled in")  # the default
    model.select_option("fast")
    page.get_by_role("button", name="Save").click()
    wait_in_page(page, "document.getElementById('saved').textContent.startsWith('Saved.')", 10)
    assert page.evaluate("chrome.storage.sync.get('tier')") == {"tier": "fast"}
    page.reload()
    wait_until(lambda: model.input_value() == "fast", 10, "the saved Model shown again")



def test_options_page_refuses_a_remote_server_over_plain_http(browser, extension_url):
    """The token and every recorded clip go to that server: in the clear only on this machine."""
    page = browser.new_page()
    page.goto(extension_url("options.html"))
    server = page.locator("[name=apiBaseUrl]")
    wait_until(lambda: server.input_value() == "http://127.0.0.1:8000", 10, "the stored options filled in")
    server.fill("http://sharpr.example.com:8000")
    page.get_by_role("button", name="Save").click()
    wait_in_page(page, "document.getElementById('saved').textContent.startsWith('Not saved.')", 10)
    assert "https" in page.locator("#saved").inner_text()
    stored = page.evaluate("chrome.storage.sync.get('apiBaseUrl')")
    assert stored.get("apiBaseUrl") != "http://sharpr.example.com:8000"  # not stored

RECORD_AND_UPLOAD = """
async ({ apiUrl, width, height, clipSeconds, seconds }) => {
  const { SharprApi } = await import('./lib/api-client.js');
  const { ClipRecorder } = await import('./lib/recorder.js');
  const { ClipUploader } = await import('./lib/uploader.js');

  const canvas = Object.assign(document.createElement('canvas'), { width, height });
  const paint = canvas.getContext('2d');
  let frame = 0;
  const painter = setInterval(() => {
    paint.fillStyle = `hsl(${(frame * 9) % 360}, 80%, 50%)`;
    paint.fillRect(0, 0, width, height);
    paint.fillStyle = '#fff';
    paint.fillRect(frame % width, height / 3, 8, 8);
    frame += 1;
  }, 1000 / 30);
  const audio = new AudioContext();
  const tone = audio.createOscillator();
  const sink = audio.createMediaStreamDestination();
  tone.connect(sink);
  tone.start();
  const media = new MediaStream([...canvas.captureStream(30).getVideoTracks(), ...sink.stream.getAudioTracks()]);

  const stream = await new SharprApi(apiUrl).createStream({ mode: 'anime', scale: 2 });
  const api = new SharprApi(apiUrl, stream.token);
  const events = [];
  const uploader = new ClipUploader(api, stream.id, { onEvent: (e) => events.push({ type: e.type, seq: e.seq, code: e.code ?? null }) });
  const recorder = new ClipRecorder(media, { clipSeconds, onClip: ({ seq, blob }) => uploader.enqueue(seq, blob) });
  recorder.start();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  await recorder.stop();
  await uploader.drain();
  await api.stopStream(stream.id);
  clearInterval(painter);
  await audio.close();
  return { stream, events };
}
"""


def test_recorded_clips_decode_alone_and_come_back_upscaled(stack: Stack, browser, extension_url):
    page = browser.new_page()
    page.goto(extension_url("options.html"))  # any extension page: its origin is the one CORS allows
    result = page.evaluate(RECORD_AND_UPLOAD, {
        "apiUrl": stack.api_url, "width": WIDTH, "height": HEIGHT,
        "clipSeconds": CLIP_SECONDS, "seconds": 2 * CLIP_SECONDS - 0.2,
    })
    stream = result["stream"]
    assert [(e["type"], e["seq"]) for e in result["events"]] == [
        ("uploading", 0), ("registered", 0), ("uploading", 1), ("registered", 1)]

    bodies = [object_bytes(stack.settings, keys.input_key(stream["id"], seq, "webm")) for seq in (0, 1)]
    for seq, body in enumerate(bodies):
        with av.open(io.BytesIO(body)) as container:  # each clip on its own, no other clip's header
            assert container.streams.audio, f"clip {seq} has no audio"
            frames = list(container.decode(video=0))
        assert frames[0].key_frame
        assert (frames[0].width, frames[0].height) == (WIDTH, HEIGHT)
        assert len(frames) >= 30 * (CLIP_SECONDS - 0.5) * (0.5 if seq else 1), f"clip {seq}: {len(frames)} frames"

    final = wait_until(lambda: (s := stream_state(stack.api_url, stream))["state"] == "ended" and s, 180, "the stream to end")
    assert [(c["seq"], c["state"], c["degraded"]) for c in final["clips"]] == [(0, "packaged", False), (1, "packaged", False)]
    playlist = httpx.get(stream["playlist_url"]).text
    assert "#EXT-X-ENDLIST" in playlist


def test_player_plays_upscaled_stream_and_follows_a_late_clip(stack: Stack, browser, extension_url, tmp_path):
    api = httpx.Client(base_url=stack.api_url)
    stream = api.post("/v1/streams", json={"mode": "anime", "scale": 2}).json()
    clips = []
    for seq in (0, 1):
        clips.append(tmp_path / f"{seq}.webm")
        write_clip(clips[-1], seconds=CLIP_SECONDS, width=WIDTH, height=HEIGHT, fps=30)
    assert send_clip(api, stream, 0, clips[0]).status_code == 202
    wait_until(lambda: stream_state(stack.api_url, stream)["clips"][0]["state"] == "packaged", 120, "clip 0 packaged")

    page = browser.new_page()
    open_player(page, extension_url, stack, stream)
    wait_in_page(page, "document.getElementById('video').currentTime > 0.3", 30)
    assert page.evaluate("document.getElementById('video').videoWidth") == 2 * WIDTH
    assert page.locator("#clips li[data-seq='0']").get_attribute("data-state") == "packaged"

    # Clip 1 arrives while clip 0 plays: the live playlist grows and the player goes on into it.
    assert send_clip(api, stream, 1, clips[1]).status_code == 202
    assert api.post(f"/v1/streams/{stream['id']}/stop", headers={"Authorization": f"Bearer {stream['token']}"}).status_code == 202
    wait_in_page(page, "document.getElementById('video').currentTime > 2.5", 120)
    wait_in_page(page, "document.querySelector(\"#clips li[data-seq='1']\")?.dataset.state === 'packaged'", 30)
    assert page.evaluate("document.getElementById('video').videoHeight") == 2 * HEIGHT
    assert not page.locator("#error").is_visible()



def open_player(page: Page, extension_url: Callable[[str], str], stack: Stack, stream: dict) -> None:
    """Store what the service worker stores when it starts a stream (the player reads only
    this), then open the player tab on it."""
    page.goto(extension_url("options.html"))
    page.evaluate("(record) => chrome.storage.session.set({ [`stream:${record.id}`]: record })", {
        "id": stream["id"], "token": stream["token"], "apiBaseUrl": stack.api_url,
        "playlistUrl": stream["playlist_url"], "kind": "video", "clipSeconds": CLIP_SECONDS,
        "captureStartedAt": None,
    })
    page.goto(extension_url(f"player.html?stream={stream['id']}"))


@pytest.fixture
def one_event_stream_per_token(settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Set before the stack's processes start so the API reads it."""
    monkeypatch.setenv("SHARPR_EVENTS_PER_TOKEN", "1")
    get_settings.cache_clear()


def test_player_refused_an_event_stream_follows_clips_by_polling(
    one_event_stream_per_token, stack: Stack, browser, extension_url, tmp_path
):
    api = httpx.Client(base_url=stack.api_url, timeout=10)
    stream = api.post("/v1/streams", json={"mode": "anime", "scale": 2}).json()
    clip = tmp_path / "0.webm"
    write_clip(clip, seconds=CLIP_SECONDS, width=WIDTH, height=HEIGHT, fps=30)
    with api.stream("GET", f"/v1/streams/{stream['id']}/events", params={"token": stream["token"]}) as held:
        assert held.status_code == 200  # the token's one event stream, taken elsewhere
        page = browser.new_page()
        refused: list[int] = []
        page.on("response", lambda response: refused.append(response.status) if "/events" in response.url else None)
        open_player(page, extension_url, stack, stream)
        assert send_clip(api, stream, 0, clip).status_code == 202  # after the player's first status read

        wait_in_page(page, "document.querySelector(\"#clips li[data-seq='0']\")?.dataset.state === 'packaged'", 120)
        assert 429 in refused
        wait_in_page(page, "document.getElementById('video').currentTime > 0.3", 30)


SCREEN = (2560, 1440)
VIDEO = (320, 180)
PAGE_GREY = (128, 128, 128)  # never in the test pattern: a crop that takes in the page shows it
VIDEO_PAGE = f"""<!doctype html>
<title>a small video on a large page</title>
<body style="margin:0; background:rgb{PAGE_GREY}; font:40px sans-serif">
  <h1 style="margin:200px 0 0 300px">A page with a small video</h1>
  <video id="v" src="clip.webm" width="{VIDEO[0]}" height="{VIDEO[1]}" autoplay muted loop playsinline
         style="display:block; margin:100px 0 0 700px"></video>
  <p style="height:3000px">More page.</p>
</body>"""
# The same page inside a frame of another origin (localhost vs 127.0.0.1), with a border and a
# scrolled parent: the frame's finder learns its offset from the parent's by postMessage.
FRAMED_PAGE = f"""<!doctype html>
<title>an embedded player</title>
<body style="margin:0; background:rgb{PAGE_GREY}; height:4000px">
  <iframe src="http://127.0.0.1:{{port}}/index.html" width="1400" height="700"
          style="margin:500px 0 0 333px; border:9px solid rgb{PAGE_GREY}; padding:5px"></iframe>
  <script>scrollTo(0, 150)</script>
</body>"""


def unpacked_extension_id(path: Path) -> str:
    """Chrome's id for an unpacked extension: sha256 of its absolute path, hex 0-f as a-p."""
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:32]
    return "".join(chr(ord("a") + int(char, 16)) for char in digest)


class QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


# All black, and moving (a still page may send the capture no frame at all).
BLACK_PAGE = """<!doctype html>
<style>@keyframes turn { to { transform: rotate(1turn) } }</style>
<body style="background:#000"><div style="width:200px; height:200px; background:#000; animation:turn 1s linear infinite"></div></body>"""
# A playing video with Clear Key media keys set: EME in use, as on a DRM-protected page.
PROTECTED_PAGE = """<!doctype html>
<body>
<video id="v" src="clip.webm" width="320" height="180" autoplay muted loop playsinline></video>
<script>
  navigator.requestMediaKeySystemAccess('org.w3.clearkey', [{
    initDataTypes: ['webm'], videoCapabilities: [{ contentType: 'video/webm; codecs="vp8"' }],
  }]).then((access) => access.createMediaKeys()).then((keys) => document.getElementById('v').setMediaKeys(keys));
</script>
</body>"""


@pytest.fixture
def video_site(tmp_path: Path) -> Iterator[str]:
    """A local web server: a page playing a real 320x180 clip in a loop, the same page in a
    frame of another origin, a black page, and a page whose video has media keys."""
    root = tmp_path / "site"
    root.mkdir()
    write_clip(root / "clip.webm", seconds=4, width=VIDEO[0], height=VIDEO[1], fps=30)
    (root / "index.html").write_text(VIDEO_PAGE)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietFiles, directory=str(root)))
    port = server.server_address[1]
    (root / "framed.html").write_text(FRAMED_PAGE.format(port=port))
    (root / "black.html").write_text(BLACK_PAGE)
    (root / "protected.html").write_text(PROTECTED_PAGE)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def user_browser(extension_dir: Path, tmp_path: Path) -> Iterator[BrowserContext]:
    """Chromium on a 2560x1440 screen at device scale 1, the window filling it, with the
    extension allowlisted so its service worker may open the popup as the icon's click does."""
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path / "user-profile",
            executable_path=CHROMIUM,
            headless=True,
            no_viewport=True,  # the page gets the real window, not an emulated viewport
            ignore_default_args=["--disable-extensions"],
            args=[
                *chromium_args(extension_dir),
                f"--window-size={SCREEN[0]},{SCREEN[1]}", f"--screen-info={{{SCREEN[0]}x{SCREEN[1]}}}",
                "--force-device-scale-factor=1",
                f"--allowlisted-extension-id={unpacked_extension_id(extension_dir)}",
            ],
        )
        yield context
        context.close()


def capture_state(worker) -> dict:
    """The service worker's capture record ({"state": "idle"} before the first write)."""
    return worker.evaluate("chrome.storage.session.get('capture')").get("capture", {"state": "idle"})


def frame_sizes(body: bytes) -> set[tuple[int, int]]:
    with av.open(io.BytesIO(body)) as container:
        return {(frame.width, frame.height) for frame in container.decode(video=0)}


PLAYING = "document.getElementById('v').currentTime > 0.5"


def click_icon_on(
    browser: BrowserContext, url: str, api_url: str, video_frame: str | None = "index.html", ready: str = PLAYING,
) -> tuple[Page, dict]:
    """Open `url`, wait until `ready` holds in the frame whose address ends in `video_frame`,
    and click the icon as a user does: the popup opens on this tab and starts at once.
    Returns the tab and the capture record once recording started or failed."""
    worker = browser.service_workers[0] if browser.service_workers else browser.wait_for_event("serviceworker")
    worker.evaluate("(options) => chrome.storage.sync.set(options)", {"apiBaseUrl": api_url, "clipSeconds": CLIP_SECONDS})
    tab = browser.pages[0] if browser.pages else browser.new_page()
    tab.goto(url)
    if video_frame:
        frame = wait_until(lambda: tab.wait_for_timeout(100) or tab.frame(url=lambda u: u.endswith(video_frame)), 30, video_frame)
        wait_until(lambda: frame.evaluate(ready), 30, ready)
    assert tab.evaluate("[innerWidth, devicePixelRatio, screen.width, screen.height]") == [SCREEN[0], 1, *SCREEN]
    tab.bring_to_front()
    worker.evaluate("chrome.action.openPopup()")
    capture = wait_until(lambda: capture_state(worker)["state"] in ("recording", "failed") and capture_state(worker), 60, "recording to start")
    return tab, capture


@pytest.mark.parametrize("page", ["index.html", "framed.html"], ids=["video-in-page", "video-in-cross-origin-frame"])
def test_click_captures_only_the_small_video_and_the_player_shows_it_enhanced(
    stack: Stack, extension_dir: Path, user_browser: BrowserContext, video_site: str, tmp_path: Path, page: str,
):
    worker = user_browser.service_workers[0] if user_browser.service_workers else user_browser.wait_for_event("serviceworker")
    assert worker.url == f"chrome-extension://{unpacked_extension_id(extension_dir)}/service-worker.js"
    site = video_site.replace("127.0.0.1", "localhost") if page == "framed.html" else video_site
    tab, capture = click_icon_on(user_browser, f"{site}/{page}", stack.api_url)
    assert capture["state"] == "recording", capture["error"]
    size = capture["size"]
    assert (size["width"], size["height"]) == (256, 144), size  # 180 lines: the ladder's 144, at the video's aspect
    assert 12 <= size["fps"] <= 30, size  # 30 unless the fleet's measured capacity says less
    stream = worker.evaluate("(key) => chrome.storage.session.get(key)", f"stream:{capture['streamId']}")[f"stream:{capture['streamId']}"]

    # tab.wait_for_timeout lets Playwright hear of the new tab; time.sleep would not.
    player = wait_until(
        lambda: tab.wait_for_timeout(100) or next((p for p in user_browser.pages if "player.html" in p.url), None),
        15, "the player tab")

    # Three clips recorded, then Stop in the player: the player goes on to the stream's end.
    wait_until(lambda: capture_state(worker)["clips"].get("2", {}).get("upload") == "registered", 60, "three clips uploaded")
    player.locator("#stop").click()
    wait_in_page(player, "document.getElementById('video').currentTime > 0.3", 300)
    assert player.evaluate("[document.getElementById('video').videoWidth, document.getElementById('video').videoHeight]") == [
        2 * size["width"], 2 * size["height"]]
    # The size stays (it is the largest rung); the tier and frame rate may give way if the worker lags.
    assert re.fullmatch(r"(Quality|Balanced|Fast) model \u00b7 256\u00d7144 @ \d+ fps: (keeping up\.|falling behind\..*)",
                        player.locator("#pace").inner_text())
    wait_in_page(player, "document.getElementById('delay').textContent !== ''", 5)  # updated each second
    assert re.fullmatch(r"(\d+ min )?\d+ s behind live", player.locator("#delay").inner_text())
    player.screenshot(path=str(tmp_path / "player.png"))
    print(f"player: {player.locator('#delay').inner_text()}; {player.locator('#pace').inner_text()}; screenshot {tmp_path / 'player.png'}")

    final = wait_until(lambda: (s := stream_state(stack.api_url, stream))["state"] == "ended" and s, 300, "the stream to end")
    assert "#EXT-X-ENDLIST" in httpx.get(stream["playlistUrl"]).text
    assert len(final["clips"]) >= 3
    assert all(clip["state"] == "packaged" and not clip["degraded"] for clip in final["clips"]), final["clips"]
    assert final["enhancement"]["tier"] == "auto"  # the Model setting's default: the capture picks per clip
    assert {clip["tier"] for clip in final["clips"]} <= {"quality", "balanced", "fast"}, final["clips"]
    wait_until(lambda: capture_state(worker)["state"] == "ended", 30, "the capture to end")

    # What was uploaded is the video alone, at the capture size, never the 2560x1440 tab.
    first = object_bytes(stack.settings, keys.input_key(stream["id"], 0, "webm"))
    assert frame_sizes(first) == {(size["width"], size["height"])}
    with av.open(io.BytesIO(first)) as container:
        picture = next(container.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    grey = (abs(picture - PAGE_GREY) < 20).all(axis=-1).mean()
    assert grey < 0.05, f"{grey:.1%} of the captured picture is the page around the video"

    # Enhanced at 2x the captured size, in every published segment.
    playlist = httpx.get(stream["playlistUrl"]).text
    segments = [line for line in playlist.splitlines() if line and not line.startswith("#")]
    assert segments
    for name in segments:
        assert frame_sizes(httpx.get(urljoin(stream["playlistUrl"], name)).content) == {(2 * size["width"], 2 * size["height"])}


@pytest.mark.parametrize(("page", "video_frame"), [("protected.html", "protected.html"), ("black.html", None)], ids=["media-keys", "black-picture"])
def test_protected_video_is_refused_in_words_not_enhanced_black(user_browser: BrowserContext, video_site: str, page: str, video_frame: str | None):
    # Nothing listens on the API address: DRM is found before the server is asked anything.
    nowhere = f"http://127.0.0.1:{localservers.free_port()}"
    ready = f"document.getElementById('v').mediaKeys !== null && {PLAYING}"
    _, capture = click_icon_on(user_browser, f"{video_site}/{page}", nowhere, video_frame, ready)
    assert capture["state"] == "failed"
    assert capture["error"]["code"] == "protected_video", capture["error"]
    worker = user_browser.service_workers[0]
    assert worker.evaluate("chrome.runtime.getContexts({ contextTypes: ['OFFSCREEN_DOCUMENT'] }).then((c) => c.length)") == 0
    assert not [p for p in user_browser.pages if "player.html" in p.url]
    # The popup says why, in words.
    popup = user_browser.new_page()
    popup.goto(worker.url.replace("service-worker.js", "popup.html"))
    wait_in_page(popup, "document.getElementById('error').textContent.includes('protected (DRM)')", 10)
