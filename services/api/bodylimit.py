"""Request body size limit: 413 `body_too_large` before any route parses a byte of JSON.

Every API body is a small JSON document (video bytes go straight to S3 through presigned
uploads), so a declared Content-Length over the limit is refused at once, and a body sent
without one (chunked) is read up to the limit and refused as soon as it passes it.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.schemas import error_response


def declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def has_body(scope: Scope) -> bool:
    return any(name in (b"content-length", b"transfer-encoding") for name, _ in scope["headers"])


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not has_body(scope):
            await self.app(scope, receive, send)
            return
        length = declared_length(scope)
        if length is not None and length > self.max_bytes:
            await self.refuse(scope, receive, send)
            return
        if length is not None:
            # The server never hands the app more than the declared length.
            await self.app(scope, receive, send)
            return
        buffered = await self.read_capped(receive)
        if buffered is None:
            await self.refuse(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return buffered

        await self.app(scope, replay, send)

    async def read_capped(self, receive: Receive) -> Message | None:
        """The whole chunked body as one message, or None once it passes the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return message  # the client left; let the app see it
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                return None
            if not message.get("more_body", False):
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

    async def refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413, "body_too_large", f"request bodies are limited to {self.max_bytes} bytes"
        )
        await response(scope, receive, send)
