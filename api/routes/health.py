"""Liveness, readiness and metrics."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from api.deps import ServicesDep

router = APIRouter(tags=["health"])
log = logging.getLogger("gptu.health")


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(services: ServicesDep, request: Request) -> JSONResponse:
    """Redis, Chroma, the database and the lexical index answer, the model is loaded or its
    server (GPTU_LLM_URL) answers; else 503.

    Anyone may ask, so a failed check says only "unavailable"; its exception goes to the log.
    """
    failing: set[str] = request.app.state.failing_checks
    checks: dict[str, Any] = {
        "database": services.db.ping,
        "chroma": services.vectors.ping,
        "lexical": services.lexical.ping,
        "redis": request.app.state.ping_redis,
        "model": lambda: model_answers(request.app.state.answerer.llm),
    }
    results = {}
    for name, check in checks.items():
        try:
            await run_in_threadpool(check)
            results[name] = "ok"
            if name in failing:
                failing.discard(name)
                log.info("readiness check %s passes again", name)
        except Exception:  # any failure means not ready; say which, and why only in the log
            results[name] = "unavailable"
            if name in failing:  # a health check asks every few seconds: one traceback will do
                log.debug("readiness check %s still fails", name, exc_info=True)
                continue
            failing.add(name)
            log.warning("readiness check %s failed", name, exc_info=True)
    ready = all(v == "ok" for v in results.values())
    return JSONResponse({"ready": ready, "checks": results}, status_code=200 if ready else 503)


def model_answers(llm: Any) -> None:
    """A model server (GPTU_LLM_URL) must answer; a model in this process is loaded already."""
    ping = getattr(llm, "ping", None)
    if ping is not None:
        ping()


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Prometheus metrics: requests, latency, answers, queues, documents, workers, feedback."""
    body = await run_in_threadpool(request.app.state.metrics.exposition)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
