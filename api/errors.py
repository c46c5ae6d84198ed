"""One JSON error envelope for every failure: {"error": {"code", "message"}}."""

from __future__ import annotations

import logging

import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from core.errors import GptuError, TooManyRequests

log = logging.getLogger(__name__)
OPENAI_PATHS = ("/v1/chat/completions", "/v1/models")
RETRY_AFTER = "5"
HTTP_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
}


class ErrorBody(BaseModel):
    """What went wrong, for a program (code) and for a person (message)."""

    code: str = Field(description="Stable machine-readable code, e.g. not_found, model_busy.")
    message: str = Field(description="A sentence a person understands.")
    type: str | None = Field(None, description="OpenAI-compatible routes only.")
    param: str | None = Field(None, description="OpenAI-compatible routes only.")


class ErrorOut(BaseModel):
    """Every error of the API: one envelope."""

    error: ErrorBody


ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    422: {"model": ErrorOut, "description": "Invalid request (code invalid_request)."},
    "4XX": {"model": ErrorOut, "description": "The request cannot be served as it is."},
    "5XX": {"model": ErrorOut, "description": "A service is unavailable or busy (Retry-After)."},
}


def envelope(
    request: Request,
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The error response; on the OpenAI path also OpenAI's `type` and `param`."""
    error: dict[str, str | None] = {"code": code, "message": message}
    if request.url.path.startswith(OPENAI_PATHS):
        error["type"] = "invalid_request_error" if status < 500 else "server_error"
        error["param"] = None
    if status == 503 and headers is None:
        headers = {"Retry-After": RETRY_AFTER}
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def validation_message(exc: RequestValidationError) -> str:
    """Pydantic's errors as one readable line: `body.name: Field required; …`."""
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception to the envelope."""

    @app.exception_handler(GptuError)
    async def gptu_error(request: Request, exc: GptuError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if isinstance(exc, TooManyRequests):
            headers = {"Retry-After": str(exc.retry_after)}
        return envelope(request, exc.status, exc.code, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        status = 400 if request.url.path.startswith(OPENAI_PATHS) else 422
        return envelope(request, status, "invalid_request", validation_message(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "http_error")
        headers = getattr(exc, "headers", None)
        return envelope(request, exc.status_code, code, str(exc.detail), headers)

    @app.exception_handler(sqlalchemy.exc.TimeoutError)
    async def pool_exhausted(request: Request, exc: sqlalchemy.exc.TimeoutError) -> JSONResponse:
        log.warning("no free database connection: %s", exc)
        message = "the database has no free connection right now; try again shortly"
        return envelope(request, 503, "database_busy", message)

    @app.exception_handler(sqlalchemy.exc.OperationalError)
    async def database_down(request: Request, exc: sqlalchemy.exc.OperationalError) -> JSONResponse:
        log.warning("database unavailable: %s", exc)
        message = "the database is not answering (or is locked); try again shortly"
        return envelope(request, 503, "database_unavailable", message)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        message = "internal error; the server log has details"
        return envelope(request, 500, "internal_error", message)
