"""Request ids on every HTTP request: kept or made, logged, counted and timed."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response

from api.metrics import Metrics
from core.logs import request_id

VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
log = logging.getLogger("gptu.http")


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
