"""A remote web site on 127.0.0.1 that ingest tests fetch videos from (the URL guard lets
them through with `SHARPR_INGEST_ALLOW_HOSTS`): files from a folder, HTTP byte ranges,
`/away?to=URL` redirects, every requested path recorded, and optionally a slow link.
"""

import http.server
import re
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

CHUNK_BYTES = 16 * 1024


@dataclass
class Site:
    url: str
    folder: Path
    requests: list[str] = field(default_factory=list)


class _Handler(http.server.SimpleHTTPRequestHandler):
    site: Site
    bytes_per_second: float | None

    def do_GET(self) -> None:
        self.site.requests.append(self.path)
        if self.path.startswith("/away?to="):
            self.send_response(302)
            self.send_header("Location", self.path.removeprefix("/away?to="))
            self.end_headers()
            return
        if ranged := re.fullmatch(r"bytes=(\d+)-(\d+)", self.headers.get("Range", "")):
            whole = (self.site.folder / self.path.lstrip("/")).read_bytes()
            body = whole[int(ranged[1]) : int(ranged[2]) + 1]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {ranged[1]}-{ranged[2]}/{len(whole)}")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def copyfile(self, source: BinaryIO, outputfile: BinaryIO) -> None:
        if self.bytes_per_second is None:
            shutil.copyfileobj(source, outputfile)
            return
        while chunk := source.read(CHUNK_BYTES):
            try:
                outputfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                return  # the client read what it wanted (yt-dlp sniffing the start) and left
            time.sleep(len(chunk) / self.bytes_per_second)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serving(folder: Path, bytes_per_second: float | None = None) -> Iterator[Site]:
    """Serve `folder` until the block ends; each response's body at `bytes_per_second`
    (a slow remote site) when given."""
    site = Site(url="", folder=folder)
    handler = type("Handler", (_Handler,), {"site": site, "bytes_per_second": bytes_per_second})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), lambda *a: handler(*a, directory=str(folder))
    )
    site.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
