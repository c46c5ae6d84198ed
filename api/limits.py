"""Request bodies have a size limit, checked before and while they are read.

A body larger than its route's limit is refused with 413 as soon as that is known: at once
when `Content-Length` says so, else the moment the bytes received pass the limit (a chunked
upload stops there, so nothing past the limit reaches memory or the temporary disk). Uploads
(`POST /v1/documents`) get the larger limit; every other body the small one. The upload route
also reads its body only after the key was checked (api/routes/documents.py).
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UPLOADS = ("POST", "/v1/documents")
CODE = "request_too_large"


class BodyTooLarge(HTTPException):
    """The request body passed its limit (413). An `HTTPException`, so FastAPI passes it on
    from its own body reading instead of calling it a parse error."""

    def __init__(self, limit: int, upload: bool) -> None:
        what = "an upload request (all its files together)" if upload else "a request body"
        setting = "GPTU_MAX_REQUEST_MB" if upload else "GPTU_MAX_BODY_MB"
        super().__init__(
            413, f"{what} may be at most {limit / (1 << 20):g} MB here ({setting}); send less"
        )


class BodyLimit:
    """ASGI middleware: the body limit of each HTTP request."""

    def __init__(self, app: ASGIApp, limit: int, upload_limit: int) -> None:
        self.app = app
        self.limit = limit
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = (scope["method"], scope["path"].rstrip("/")) == UPLOADS
        limit = self.upload_limit if upload else self.limit
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await refuse(BodyTooLarge(limit, upload), scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit, upload)
            return message

        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge as exc:  # read outside a route (a mounted app): answered here
            if started:
                raise
            await refuse(exc, scope, receive, send)


async def refuse(exc: BodyTooLarge, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer 413 in the error envelope and close the connection (its body stays unread)."""
    response = JSONResponse(
        {"error": {"code": CODE, "message": exc.detail}},
        status_code=413,
        headers={"Connection": "close"},
    )
    await response(scope, receive, send)
