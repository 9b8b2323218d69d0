"""The one exception hierarchy: each error has a stable `code` and an HTTP status.

The API maps these to `{"error": {"code", "message"}}` once; workers record code and
message on the clip, without the server's paths and hosts (`without_server_details`).
"""

import re

# What an exception's text may tell about our servers: URLs, absolute paths (temp files),
# IPv4 and bracketed IPv6 addresses with their ports, and host:port pairs.
SERVER_DETAILS = re.compile(
    r"[a-z][a-z0-9+.-]*://[^\s'\"]+"
    r"|(?<![\w.])/(?:[\w.@%+=,-]+/)*[\w.@%+=,-]+"
    r"|\[[0-9a-f:.]+\](?::\d+)?"
    r"|\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"
    r"|\b[\w.-]+:\d{2,5}\b",
    re.IGNORECASE,
)


class SharprError(Exception):
    """Every error a client may see. A subclass names its HTTP status in its class line
    (else keeps its parent's); its code, unless it sets one, is its name in snake case
    (`TooLarge`: too_large)."""

    code = "internal_error"
    status = 500

    def __init_subclass__(cls, *, status: int | None = None, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.status = cls.status if status is None else status  # a subclass's subclass inherits it
        cls.code = cls.__dict__.get("code", re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower())

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class BadRequest(SharprError, status=400):
    """A request the schema takes but the rules refuse: a duplicated token, a bad range."""


class Unauthorized(SharprError, status=401):
    """No token, or one that is not this stream's."""


class NotFound(SharprError, status=404):
    """No such stream, clip or file (or not any more: retention removed it)."""


class Conflict(SharprError, status=409):
    """Right request, wrong moment: a clip for a stream that has ended, a seq twice."""


class TooLarge(SharprError, status=413):
    """Over a size limit: the upload, the frame, the stream's storage budget."""


class Unprocessable(SharprError, status=422):
    """Well formed, but not something we can do: a frame rate too high, a URL refused."""


class Unavailable(SharprError, status=503):
    """Redis or S3 is away for now; the client may try again."""


class BadMedia(SharprError, status=422):
    """A clip that cannot be decoded: permanent, never retried."""


def media_error(what: str, error: Exception, *, code: str = "bad_media") -> BadMedia:
    """`BadMedia` for an FFmpeg error (from PyAV): `what`, then FFmpeg's reason alone.

    `str()` of PyAV's errors ends with the file it was reading, a server temp path, or
    with FFmpeg's function name; neither belongs in a message a client sees.
    """
    reason = getattr(error, "strerror", None) or type(error).__name__
    return BadMedia(f"{what}: {reason}", code=code)


def without_server_details(text: str) -> str:
    """`text` (an exception's, for a client to read) with URLs, paths and addresses hidden."""
    return SERVER_DETAILS.sub("<hidden>", text)
