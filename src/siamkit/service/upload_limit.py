"""`UploadLimitMiddleware`: refuses request bodies over the configured size, by header and by actual bytes.

A declared `Content-Length` over the limit is answered 413 before a byte of the body is read. A body without
a length (chunked) or longer than declared is counted as it streams in and stopped at the limit, so a client
can never make the service buffer or spool more than `max_bytes`.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def too_large_message(max_bytes: int) -> str:
    return f"upload too large: requests may carry at most {max_bytes:,} bytes ({max_bytes / 2**20:.3g} MiB)"


class UploadLimitMiddleware:
    """ASGI middleware limiting each HTTP request body to `max_bytes`.

    Args:
        app: The wrapped application.
        max_bytes: The largest body accepted.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await JSONResponse({"detail": "malformed Content-Length header"}, status_code=400)(scope, receive, send)
                return
            if length > self.max_bytes:
                await JSONResponse({"detail": too_large_message(self.max_bytes)}, status_code=413)(scope, receive, send)
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # An HTTPException passes through FastAPI's form parsing untouched and becomes a JSON 413.
                    raise HTTPException(status_code=413, detail=too_large_message(self.max_bytes))
            return message

        await self.app(scope, limited_receive, send)
