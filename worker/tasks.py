"""Thin Celery tasks over ingest.pipeline; the worker builds its services once per process."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init

from app.services import Services, build_services
from core.offline import go_offline, quiet_libraries
from core.settings import Settings
from ingest.errors import TransientIngestError
from worker.celery_app import app

log = logging.getLogger(__name__)
MAX_RETRIES = 5
_services: Services | None = None


def services() -> Services:
    """This process's services, built on first use."""
    global _services
    if _services is None:
        go_offline()
        quiet_libraries()
        _services = build_services(Settings())
    return _services


@worker_process_init.connect
def _warm_up(**_: Any) -> None:
    """Build services (and load the default embedder) as each worker process starts."""
    log.debug("default embedder %s loaded", services().embedder.id)


@app.task(name="ingest.document", bind=True, acks_late=True, max_retries=MAX_RETRIES)
def ingest_document(self: Task, document_id: str) -> dict[str, int | str]:
    """Parse, chunk, embed and index one stored file. Running it twice is harmless."""
    pipeline = services().pipeline()
    try:
        return pipeline.run(document_id)
    except SoftTimeLimitExceeded:
        limit = services().settings.task_time_limit
        pipeline.fail(document_id, f"processing took longer than the {limit} s limit")
        return {"document_id": document_id, "status": "failed"}
    except TransientIngestError as exc:
        if self.request.retries >= MAX_RETRIES:
            pipeline.fail(document_id, f"gave up after {MAX_RETRIES} retries: {exc}")
            raise
        raise self.retry(exc=exc, countdown=min(60, 2 ** (self.request.retries + 1))) from exc
