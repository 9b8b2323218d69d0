"""The hub page in Debian's chromium against the whole stack (API, worker, packager).

Upload a small MP4 on the page, then check what a viewer sees: both videos play, the
enhanced one is twice as wide, seeking one seeks the other, the wipe divider moves, each
clip names the model it ran at, and the download link serves an MP4 of the right length.
"""

import re
from collections.abc import Iterator
from pathlib import Path

import av
import httpx
import pytest

from services.core.settings import get_settings
from tests.media import write_clip

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
WIDTH, HEIGHT, FPS, SECONDS = 64, 36, 15, 3.0
WAIT_MS = 180_000


@pytest.fixture
def short_clips(settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Clips of 2 s, set before the stack's processes start so they all read it."""
    monkeypatch.setenv("SHARPR_CLIP_SECONDS", "2")
    monkeypatch.setenv("SHARPR_CLIP_MAX_SECONDS", "2.5")
    get_settings.cache_clear()


@pytest.fixture
def page(short_clips, stack) -> Iterator["playwright_api.Page"]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone's width
        page.on("console", lambda message: print("console:", message.type, message.text))
        page.on("requestfailed", lambda request: print("request failed:", request.url, request.failure))
        page.goto(stack.api_url)
        yield page
        browser.close()


def both(page, expression: str) -> list:
    return page.evaluate(f"[...['original','enhanced']].map(id => {{ const v = document.getElementById(id); return {expression}; }})")


@pytest.mark.browser
def test_uploaded_mp4_plays_side_by_side_with_wipe_and_download(page, tmp_path):
    clip = tmp_path / "upload.mp4"
    frames = write_clip(clip, seconds=SECONDS, width=WIDTH, height=HEIGHT, fps=FPS)

    page.get_by_label("Or a file from this device").set_input_files(str(clip))
    page.get_by_label("Model").select_option("fast")
    with page.expect_request(lambda request: request.url.endswith("/v1/videos/uploads")) as grant:
        page.get_by_role("button", name="Enhance").click()
    assert grant.value.post_data_json["tier"] == "fast"
    page.wait_for_selector("#view:not([hidden])", timeout=30_000)

    page.wait_for_function(
        "['original','enhanced'].every(id => document.getElementById(id).videoWidth > 0)", timeout=WAIT_MS
    )
    original_width, enhanced_width = both(page, "v.videoWidth")
    assert (original_width, enhanced_width) == (WIDTH, 2 * WIDTH)

    page.get_by_role("button", name="Play").click()
    page.wait_for_function(
        "['original','enhanced'].every(id => document.getElementById(id).currentTime > 0.3)", timeout=30_000
    )
    assert all(not paused for paused in both(page, "v.paused"))
    page.get_by_role("button", name="Pause").click()
    page.wait_for_function("document.getElementById('enhanced').paused")

    page.evaluate("document.getElementById('original').currentTime = 1.0")
    page.wait_for_function("Math.abs(document.getElementById('enhanced').currentTime - 1.0) < 0.1")
    page.evaluate("document.getElementById('enhanced').currentTime = 0.5")
    page.wait_for_function("Math.abs(document.getElementById('original').currentTime - 0.5) < 0.1")

    page.get_by_label("Wipe").check()
    divider = page.get_by_label("Divider")
    divider.focus()
    for _ in range(10):
        page.keyboard.press("ArrowLeft")
    assert page.evaluate("document.getElementById('stage').style.getPropertyValue('--wipe')") == "40%"
    box = page.locator("#stage").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    assert divider.input_value() == "80"

    link = page.get_by_role("link", name="Download MP4")
    link.wait_for(state="visible", timeout=WAIT_MS)
    assert page.locator("#clips li span").all_inner_texts() == ["Clip 1: ready · Fast model", "Clip 2: ready · Fast model"]
    href = link.evaluate("a => a.href")
    token = grant.value.response().json()["token"]
    assert token not in href and "/download" not in href  # a signed storage link, not the stream's secret
    response = httpx.get(href, follow_redirects=True)
    assert response.status_code == 200
    (tmp_path / "enhanced.mp4").write_bytes(response.content)
    with av.open(str(tmp_path / "enhanced.mp4")) as container:
        decoded = list(container.decode(video=0))
    assert len(decoded) == frames
    assert abs(decoded[-1].time + 1 / FPS - SECONDS) <= 1 / FPS


def test_page_and_its_modules_are_served_without_a_build_step(api):
    page = api.get("/")
    assert page.status_code == 200 and 'src="/hub/main.js"' in page.text
    for path in ("/hub/main.js", "/hub/players.js", "/hub/vendor/hls.min.mjs"):
        response = api.get(path)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/javascript")


def test_hub_files_are_revalidated_and_counted_under_their_mount(api):
    first = api.get("/hub/main.js")
    assert first.headers["cache-control"] == "no-cache" and api.get("/").headers["cache-control"] == "no-cache"
    again = api.get("/hub/main.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.headers["cache-control"] == "no-cache"
    assert 'route="/hub",status="200"' in api.get("/metrics").text


def test_hub_files_outside_the_static_folder_are_refused(api):
    response = api.get("/hub/..%2F..%2Fcore%2Fsettings.py")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_ingest_of_an_upload_that_never_arrived_is_refused(api):
    grant = api.post("/v1/videos/uploads", json={"mode": "live_action"}).json()
    response = api.post(f"/v1/videos/{grant['id']}/ingest", headers={"Authorization": f"Bearer {grant['token']}"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "source_missing"
    download = api.get(f"/v1/streams/{grant['id']}/download", params={"token": grant["token"]})
    assert download.status_code == 404 and download.json()["error"]["code"] == "download_not_ready"


@pytest.fixture
def one_event_stream_per_address(settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Set before the stack's processes start so the API reads it."""
    monkeypatch.setenv("SHARPR_EVENTS_PER_ADDRESS", "1")
    get_settings.cache_clear()


@pytest.mark.browser
def test_page_refused_an_event_stream_follows_progress_by_polling(one_event_stream_per_address, page, stack, tmp_path):
    clip = tmp_path / "upload.mp4"
    write_clip(clip, seconds=SECONDS, width=WIDTH, height=HEIGHT, fps=FPS)
    answers: list[tuple[str, int]] = []
    page.on("response", lambda response: answers.append((response.url, response.status)))
    with httpx.Client(base_url=stack.api_url, timeout=10) as client:
        other = client.post("/v1/streams", json={}).json()
        with client.stream("GET", f"/v1/streams/{other['id']}/events", params={"token": other["token"]}) as held:
            assert held.status_code == 200  # this address's one event stream

            page.get_by_label("Or a file from this device").set_input_files(str(clip))
            page.get_by_role("button", name="Enhance").click()
            page.get_by_role("link", name="Download MP4").wait_for(state="visible", timeout=WAIT_MS)

    assert page.locator("#state").text_content() == "Done."
    assert page.locator("#clips li[data-state=packaged]").count() == 2
    assert any("/events" in url and status == 429 for url, status in answers), answers
    assert any(re.search(r"/v1/streams/[0-9a-f]{32}$", url) and status == 200 for url, status in answers), answers


@pytest.fixture
def live_source_allowed(settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ingest may follow a source on 127.0.0.1; set before the stack's processes start."""
    monkeypatch.setenv("SHARPR_INGEST_ALLOW_HOSTS", '["127.0.0.1"]')
    get_settings.cache_clear()


@pytest.mark.browser
@pytest.mark.live
def test_live_source_plays_side_by_side_with_its_enhanced_stream(live_source_allowed, page, stack, tmp_path):
    from tests.live_hls_server import cut_segments, live_hls, write_live_clip

    clip = tmp_path / "live.mp4"
    write_live_clip(clip, seconds=30.0, width=WIDTH, height=HEIGHT, fps=FPS, segment_seconds=2.0)
    segments = cut_segments(clip, tmp_path / "site", segment_seconds=2.0)
    stack.wait_for_worker()
    with live_hls(segments, tmp_path / "site", preroll=2) as site:
        page.get_by_label("Video link").fill(site.url)
        page.get_by_role("button", name="Enhance").click()
        page.wait_for_selector("#view:not([hidden])", timeout=30_000)
        live = page.locator("#live")
        live.filter(has_text=re.compile(r"Live · \d+ s behind the source")).wait_for(timeout=WAIT_MS)

        page.wait_for_function(
            "['original','enhanced'].every(id => document.getElementById(id).videoWidth > 0)", timeout=WAIT_MS
        )
        assert both(page, "v.videoWidth") == [WIDTH, 2 * WIDTH]
        page.get_by_role("button", name="Play").click()
        page.wait_for_function(
            "['original','enhanced'].every(id => document.getElementById(id).currentTime > 1.0)", timeout=30_000
        )
        # One clock: the enhanced stream leads a live source, the original follows it.
        page.wait_for_timeout(1500)
        original_time, enhanced_time = both(page, "v.currentTime")
        assert abs(original_time - enhanced_time) < 0.5, (original_time, enhanced_time)
        assert all(not paused for paused in both(page, "v.paused"))

        page.get_by_role("button", name="Stop following").click()
        page.wait_for_function("document.getElementById('state').textContent === 'Done.'", timeout=WAIT_MS)
        # The last status read names the model the newest clip ran at (auto: the best that keeps up).
        live.filter(has_text=re.compile(r"The live source has ended.* · (Quality|Balanced|Fast) model$")).wait_for(timeout=10_000)
        assert not site.ended()  # stopped by the user, not by the source
