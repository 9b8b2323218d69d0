"""The only way ingest reaches the network: HTTP(S) with every hop checked and bytes capped.

Redirects are followed here, by hand, so `check_url` sees each hop before a request is
sent there; httpx never follows one on its own and ignores proxy variables. Connections go
to the address `check_url` approved, not to a second DNS answer (`PinnedAddresses`). Bodies are
streamed to disk and cut off at `ingest_max_bytes`. Every read of one Fetcher (one ingest
job, one live follower run) ends by a deadline, so a server that trickles a byte per read
cannot hold an ingest for its whole timeout; a response in more than one content coding
(`gzip, gzip`) is refused before it is decoded. Failures are `SharprError`s with a code the
stream's client can show (`url_forbidden`, `too_many_redirects`, `source_too_large`,
`fetch_failed`, `unsupported_source`).
"""

import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Self

import httpcore
import httpx

from services.core.errors import BadRequest, TooLarge, Unprocessable
from services.core.settings import Settings
from services.core.urlguard import check_url

log = logging.getLogger(__name__)

# A redirected POST becomes a GET without its body (RFC 9110 §15.4), as browsers do.
BODY_DROPPING_REDIRECTS = (301, 302, 303)


class PinnedAddresses(httpcore.SyncBackend):
    """Opens TCP connections to the address checked for each host, never resolving again:
    a DNS server that answers with a public address for the check and a private one for the
    connection (rebinding) would otherwise walk past the guard."""

    def __init__(self) -> None:
        super().__init__()
        self.checked: dict[str, str] = {}

    def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:  # fmt: skip
        address = self.checked.get(host)
        if address is None:
            raise httpcore.ConnectError(f"{host} was not checked by the URL guard")
        return super().connect_tcp(address, port, timeout, local_address, socket_options)


class Fetcher:
    """One connection pool whose every request, redirects included, passes the URL guard."""

    def __init__(self, settings: Settings, seconds: float | None = None) -> None:
        """`seconds`: how long all of this Fetcher's requests may take together
        (`ingest_fetch_seconds` unless given)."""
        self.seconds = settings.ingest_fetch_seconds if seconds is None else seconds
        self.deadline = time.monotonic() + self.seconds
        self.allow = settings.ingest_allow_hosts
        self.max_redirects = settings.ingest_max_redirects
        self.max_bytes = settings.ingest_max_bytes
        self.addresses = PinnedAddresses()
        transport = httpx.HTTPTransport(trust_env=False)
        # httpx takes no network backend, so its pool is rebuilt around the pinned one; TLS
        # still names and verifies the host (the pool keys connections by host, not address).
        transport._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False), network_backend=self.addresses,
            max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0,  # httpx's
        )  # fmt: skip
        self.client = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(settings.ingest_timeout_seconds),
            follow_redirects=False,
            trust_env=False,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.client.close()

    def open(
        self, url: str, *, method: str = "GET", headers: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """A streaming response (the caller closes it) after checked redirects."""
        for _ in range(self.max_redirects + 1):
            self.check_deadline(url)
            address = check_url(url, self.allow)
            request = self.client.build_request(method, url, headers=headers, content=content)
            self.addresses.checked[request.url.raw_host.decode("ascii")] = str(address)
            try:
                response = self.client.send(request, stream=True)
            except httpx.HTTPError as error:
                raise Unprocessable(f"fetching {url} failed: {error}", code="fetch_failed") from error
            if not response.has_redirect_location:
                return self._one_coding(response)
            response.close()
            url = str(response.url.join(response.headers["location"]))
            if response.status_code in BODY_DROPPING_REDIRECTS and method == "POST":
                method, content = "GET", None
            log.info("event=redirect status=%d to=%s", response.status_code, url)
        raise BadRequest(f"more than {self.max_redirects} redirects", code="too_many_redirects")

    def download(
        self, url: str, dest: Path, headers: dict[str, str] | None = None, *, append: bool = False,
        byte_range: tuple[int, int] | None = None,
    ) -> int:
        """Stream `url`, or its `(offset, length)` bytes, into `dest` (after what it holds,
        if `append`); returns dest's size.

        The byte cap counts the whole of `dest`, so parts appended one by one (HLS
        segments) share one limit.
        """
        expect = 200
        if byte_range is not None:
            offset, length = byte_range
            headers, expect = {**(headers or {}), "Range": f"bytes={offset}-{offset + length - 1}"}, 206
        with self._ok_response(url, headers, expect) as response:
            declared = int(response.headers.get("content-length") or 0)
            if declared > self.max_bytes:
                raise self.too_large()
            size = dest.stat().st_size if append else 0
            with dest.open("ab" if append else "wb") as out:
                for chunk in self.chunks(response):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise self.too_large()
                    out.write(chunk)
        return size

    def read_text(self, url: str, headers: dict[str, str] | None = None, limit: int = 1 << 20) -> str:
        """A small text document (a playlist), capped at `limit` bytes."""
        body = b""
        with self._ok_response(url, headers) as response:
            for chunk in self.chunks(response):
                body += chunk
                if len(body) > limit:
                    raise Unprocessable(f"{url} is not a playlist of a sane size", code="unsupported_source")
        return body.decode("utf-8", errors="replace")

    @contextmanager
    def _ok_response(
        self, url: str, headers: dict[str, str] | None, expect: int = 200
    ) -> Iterator[httpx.Response]:
        """An open response of status `expect` to read from (206 for a range: a server that
        ignores the range would send the whole resource); closed afterwards, and a
        transport error while reading it becomes `fetch_failed`."""
        response = self.open(url, headers=headers)
        try:
            if response.status_code != expect:
                raise Unprocessable(f"{url} answered HTTP {response.status_code}, not {expect}",
                                    code="fetch_failed")
            yield response
        except httpx.HTTPError as error:
            raise Unprocessable(f"fetching {url} failed: {error}", code="fetch_failed") from error
        finally:
            response.close()

    def chunks(self, response: httpx.Response, limit: int | None = None) -> Iterator[bytes]:
        """The body as it arrives, decoded, each read checked against the deadline (and the
        total against `limit`, if given)."""
        size = 0
        for chunk in response.iter_bytes():
            self.check_deadline(str(response.url))
            size += len(chunk)
            if limit is not None and size > limit:
                raise self.too_large()
            yield chunk

    def check_deadline(self, url: str) -> None:
        if time.monotonic() > self.deadline:
            raise Unprocessable(f"fetching {url} took longer than {self.seconds:.0f} s", code="fetch_failed")

    def _one_coding(self, response: httpx.Response) -> httpx.Response:
        """`response`, unless its body is in more than one content coding: each one layered
        on the last multiplies what a read inflates to."""
        codings = [c for c in response.headers.get("content-encoding", "").replace(" ", "").split(",")
                   if c not in ("", "identity")]
        if len(codings) > 1:
            response.close()
            raise Unprocessable(f"{response.url} is sent in {len(codings)} content codings; one at most is accepted",
                                code="unsupported_source")
        return response

    def too_large(self) -> TooLarge:
        return TooLarge(f"videos are limited to {self.max_bytes} bytes", code="source_too_large")
