"""Request ids and structured logs: every log line of a request carries its id."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from fastapi import FastAPI, Request, Response

from api.metrics import Metrics

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
log = logging.getLogger("gptu.http")


class JsonLines(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as JSON."""
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id.get(),
        }
        for key in ("method", "path", "status", "ms", "trace_id", "user"):
            if hasattr(record, key):
                line[key] = getattr(record, key)
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class WithRequestId(logging.Filter):
    """Adds request_id to text log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keep the record."""
        record.request_id = request_id.get() or "-"
        return True


def setup_logging(level: str, form: str) -> None:
    """Root logging as JSON lines (GPTU_LOG_FORMAT=json) or text with the request id."""
    handler = logging.StreamHandler()
    if form == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
        handler.addFilter(WithRequestId())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def install_request_ids(app: FastAPI, metrics: Metrics) -> None:
    """Give each request an id (or keep a sane X-Request-ID), log it, count it, time it."""

    @app.middleware("http")
    async def with_request_id(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        given = request.headers.get("x-request-id", "")
        token = request_id.set(given if VALID_ID.match(given) else uuid.uuid4().hex)
        started = time.perf_counter()
        try:
            response = await call_next(request)
            response.headers["X-Request-ID"] = request_id.get() or ""
            seconds = time.perf_counter() - started
            route = getattr(request.scope.get("route"), "path", "unmatched")
            metrics.observe_request(request.method, route, response.status_code, seconds)
            if route not in ("/healthz", "/readyz", "/metrics", "/static"):
                log.info(
                    "%s %s %d", request.method, route, response.status_code,
                    extra={"method": request.method, "path": request.url.path,
                           "status": response.status_code, "ms": round(seconds * 1000, 1)},
                )  # fmt: skip
            return response
        finally:
            request_id.reset(token)
