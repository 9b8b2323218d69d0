"""Origins that answer to hold or flood the ingest, on real loopback servers: a body
trickled a chunk at a time, a body in two layers of gzip, a page far larger than a page.
Every fetch ends with a code, in seconds, in bounded memory."""

import gzip
import http.server
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from services.core.errors import SharprError
from services.core.settings import Settings, get_settings
from services.ingest import extract
from services.ingest.extract import find_media
from services.ingest.fetch import Fetcher
from tests.remote_site import serving


@pytest.fixture
def loopback(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("SHARPR_INGEST_ALLOW_HOSTS", '["127.0.0.1"]')
    get_settings.cache_clear()
    return get_settings()


def test_a_trickled_body_is_cut_off_at_the_fetch_deadline(loopback: Settings, tmp_path: Path):
    """200 video/mp4, then 16 KB every 0.3 s: each read arrives well within the read
    timeout, so only a deadline on the whole fetch ends it (four such URLs held every
    ingest worker for the job's 6.5 h)."""
    (tmp_path / "slow.mp4").write_bytes(bytes(2 * 1024 * 1024))  # 38 s at this rate
    with serving(tmp_path, bytes_per_second=16 * 1024 / 0.3) as site, Fetcher(loopback, seconds=1.5) as fetcher:
        started = time.monotonic()
        with pytest.raises(SharprError) as refused:
            fetcher.download(f"{site.url}/slow.mp4", tmp_path / "got.mp4")
        took = time.monotonic() - started
    assert refused.value.code == "fetch_failed" and "took longer than 2 s" in refused.value.message
    assert took < 5


@contextmanager
def double_gzip_site(body: bytes) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Encoding", "gzip, gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/video.mp4"
    finally:
        server.shutdown()
        server.server_close()


def test_a_body_in_two_content_codings_is_refused_before_it_is_decoded(loopback: Settings, tmp_path: Path):
    """64 MB of zeros, gzipped twice, is 9 KB on the wire: decoded, one read inflates to
    the whole of it."""
    bomb = gzip.compress(gzip.compress(bytes(64 * 1024 * 1024)))
    with double_gzip_site(bomb) as url, Fetcher(loopback) as fetcher, pytest.raises(SharprError) as refused:
        fetcher.download(url, tmp_path / "got.mp4")
    assert refused.value.code == "unsupported_source"
    assert "2 content codings" in refused.value.message
    assert not (tmp_path / "got.mp4").exists()


def test_a_page_far_larger_than_a_page_is_refused_by_yt_dlp_s_reader(
    loopback: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """yt-dlp reads a page whole into memory, so its bodies have a cap of their own."""
    monkeypatch.setattr(extract, "PAGE_MAX_BYTES", 64 * 1024)
    (tmp_path / "watch.html").write_text("<html><body>" + "a" * 256 * 1024 + "</body></html>")
    with serving(tmp_path) as site, Fetcher(loopback) as fetcher, pytest.raises(SharprError) as refused:
        find_media(f"{site.url}/watch.html", fetcher, timeout=10)
    assert refused.value.code == "source_too_large"
