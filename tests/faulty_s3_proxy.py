"""An HTTP proxy in front of the real S3 server that can fail or hold requests on demand.

`fail_for(seconds)` answers every request with S3's 503 SlowDown for a while (what S3 does
under load), counted from the next request, so the failure always meets traffic however
slowly the services run; `hold(match)` parks requests whose "METHOD path" contains `match` for good
(they never reach S3), so a test knows a service is stopped exactly there and can kill it. Everything else is passed
through byte for byte, signatures included (the Host header is kept).
"""

import http.client
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

SLOW_DOWN = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
             b"<Message>Please reduce your request rate.</Message></Error>")


class FaultyS3Proxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = urlsplit(upstream)
        self.failing_until = 0.0
        self.fail_seconds: float | None = None  # armed: the next request starts the failure
        self.failed = 0
        self.hold_match: str | None = None
        self.held = threading.Event()
        self.closing = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def fail_for(self, seconds: float) -> None:
        self.fail_seconds = seconds

    def hold(self, match: str) -> None:
        self.hold_match = match
        self.held.clear()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FaultyS3Proxy

    def log_message(self, format: str, *args: object) -> None:  # quiet test output
        pass

    def _relay(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        proxy = self.server
        if proxy.fail_seconds is not None:
            proxy.failing_until, proxy.fail_seconds = time.monotonic() + proxy.fail_seconds, None
        if time.monotonic() < proxy.failing_until:
            proxy.failed += 1
            self._answer(503, {"Content-Type": "application/xml"}, SLOW_DOWN)
            return
        if proxy.hold_match and proxy.hold_match in f"{self.command} {self.path}":
            proxy.held.set()
            proxy.closing.wait()
            self.close_connection = True
            return
        upstream = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "expect")}
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            payload = response.read()
            passed = {k: v for k, v in response.getheaders()
                      if k.lower() not in ("connection", "transfer-encoding", "content-length")}
            self._answer(response.status, passed, payload, length=response.getheader("Content-Length"))
        finally:
            upstream.close()

    def _answer(self, status: int, headers: dict[str, str], payload: bytes, length: str | None = None) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        # A HEAD answer names the object's length but carries no body.
        self.send_header("Content-Length", length if self.command == "HEAD" and length else str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay


@contextmanager
def running_proxy(upstream: str) -> Iterator[FaultyS3Proxy]:
    proxy = FaultyS3Proxy(upstream)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.closing.set()
        proxy.shutdown()
        proxy.server_close()
