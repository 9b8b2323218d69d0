"""Where a request carries its stream token: the one reading that the rate limiter and
authentication share, so the token counted is always the token checked."""

from urllib.parse import parse_qsl

from starlette.types import Scope

from services.core.errors import BadRequest


def presented_token(scope: Scope) -> str | None:
    """The bearer token, else the `?token=` query parameter (EventSource cannot send
    headers), percent-decoded as any query parser would; None if neither is there.

    A second `token` parameter is refused (400 `token_duplicated`): a limiter reading the
    first and an authenticator reading the last would let a random first token dodge
    the per-token limit.
    """
    for name, value in scope["headers"]:
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return value[7:].strip().decode("latin-1")
    query = scope.get("query_string", b"").decode("latin-1")
    tokens = [value for name, value in parse_qsl(query, keep_blank_values=True) if name == "token"]
    if len(tokens) > 1:
        raise BadRequest("send the stream token once", code="token_duplicated")
    return tokens[0] if tokens else None
