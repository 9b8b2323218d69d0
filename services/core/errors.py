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
    code = "internal_error"
    status = 500

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class BadRequest(SharprError):
    code = "bad_request"
    status = 400


class Unauthorized(SharprError):
    code = "unauthorized"
    status = 401


class NotFound(SharprError):
    code = "not_found"
    status = 404


class Conflict(SharprError):
    code = "conflict"
    status = 409


class TooLarge(SharprError):
    code = "too_large"
    status = 413


class Unprocessable(SharprError):
    code = "unprocessable"
    status = 422


class Unavailable(SharprError):
    code = "unavailable"
    status = 503


class BadMedia(SharprError):
    """A clip that cannot be decoded: permanent, never retried."""

    code = "bad_media"
    status = 422


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
