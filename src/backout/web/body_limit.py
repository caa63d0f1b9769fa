"""Refuse request bodies over a size with 413, before they are read whole and parsed.

A plain ASGI middleware (not Starlette's BaseHTTPMiddleware, which costs every request a task):
a declared Content-Length over the limit is answered at once; a body sent in chunks without
one is counted as it arrives and cut off at the limit.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backout.web.errors import error_response


def too_large_message(max_bytes: int) -> str:
    return f"the request body is too large: at most {max_bytes} bytes ({max_bytes // 1024} KiB)"


class BodyTooLargeError(HTTPException):
    """Raised into the app while it reads a chunked body; answered as 413 by its handler."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, too_large_message(max_bytes))


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            response = error_response(413, too_large_message(self.max_bytes), None)
            await response(scope, receive, send)
            return
        if declared is not None:  # the server never delivers more than was declared
            await self.app(scope, receive, send)
            return
        await self.app(scope, self._counting(receive), send)

    def _counting(self, receive: Receive) -> Receive:
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLargeError(self.max_bytes)
            return message

        return counted


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses such a request itself
    return None
