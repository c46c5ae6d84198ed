"""Thin Celery tasks over ingest.pipeline; the worker builds its services once per process."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_init, worker_process_init

from app.scratch import grace, leftovers, remove
from app.services import Services, build_services, chroma_client
from core.db import Database
from core.errors import SchemaOutdated, ServiceUnavailable
from core.offline import go_offline, quiet_libraries
from core.settings import Settings
from core.waiting import database_name, wait_for
from ingest.batch import DEFERRED, Result
from ingest.errors import TransientIngestError, unexpected
from ingest.pipeline import Pipeline
from worker.celery_app import app

log = logging.getLogger(__name__)
MAX_RETRIES = 9
Outcomes = Result | list[Result]
_services: Services | None = None


def services() -> Services:
    """This process's services, built on first use."""
    global _services
    if _services is None:
        go_offline()
        quiet_libraries()
        settings = Settings()
        _services = build_services(settings, wait=settings.start_timeout)
    return _services


@worker_init.connect
def _check_schema(**_: Any) -> None:
    """Wait (before forking) for the database and Chroma to answer; refuse to start on a
    database whose schema is older than this gptu's. Celery itself waits for Redis."""
    settings = Settings()
    if settings.visibility_timeout <= settings.task_time_limit:
        log.warning(
            "GPTU_VISIBILITY_TIMEOUT (%d s) is not above GPTU_TASK_TIME_LIMIT (%d s): Redis "
            "may hand a document still being read to a second worker; raise it",
            settings.visibility_timeout, settings.task_time_limit,
        )  # fmt: skip
    url = settings.sqlalchemy_url
    try:  # any start order: wait here, before forking, for a database still starting
        wait_for(database_name(url), lambda: Database(url).engine.dispose(), settings.start_timeout)
        where = f"Chroma at {settings.chroma_host}:{settings.chroma_port}"
        wait_for(where, lambda: chroma_client(settings), settings.start_timeout)
    except (SchemaOutdated, ServiceUnavailable) as exc:
        log.error("%s", exc.message)
        raise SystemExit(f"error: {exc.message}") from None


@worker_process_init.connect
def _warm_up(**_: Any) -> None:
    """Build services (and load the default embedder) as each worker process starts; remove
    the parsing folders of this host's worker processes that are gone (killed mid-parse)."""
    settings = services().settings
    gone = remove(
        leftovers(settings.scratch_dir, settings.files_dir, grace(settings.task_time_limit))
    )
    if gone:
        log.info("removed %d parsing folder(s) left by stopped workers", gone)
    log.debug("default embedder %s loaded", services().embedder.id)


class IngestTask(Task):
    """Settles the documents when the task ends in an exception: once the retries for a
    transient error run out they fail, saying so; after an error nobody expected (a bug, or
    data a backend refuses), a batch's unsettled documents are each sent on their own (so only
    a file that fails alone ends failed) and a single document fails with the error's words.
    No document is left `processing` until the sweeper gives up on it."""

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        """Celery calls this when the task ends in an exception (after its last retry)."""
        if not args:
            return
        ids = args[0] if isinstance(args[0], list) else [args[0]]
        pipeline = services().pipeline()
        if isinstance(exc, TransientIngestError):
            reason = (
                f"gave up after {MAX_RETRIES} retries over several minutes, while a service "
                f"it needs was down ({exc}): retry it once the service is back"
            )
        elif len(ids) > 1:
            split(pipeline, ids, f"its batch stopped: {type(exc).__name__}")
            return
        elif isinstance(exc, Exception):
            reason = str(unexpected(exc, "ingesting"))
        else:
            reason = f"the worker stopped ({type(exc).__name__}) while ingesting it: retry it"
        pipeline.give_up(ids, reason)


def split(pipeline: Pipeline, document_ids: list[str], why: str) -> None:
    """Send each unsettled document of a batch as a task of its own, back in the queue."""
    for document_id in pipeline.store.unsettled(document_ids):
        pipeline.store.release(document_id, f"{why}; it is read on its own next")
        send_alone(document_id)


def send_alone(document_id: str) -> None:
    """Queue `ingest.document` for one document; when Redis is down the sweeper sends it."""
    try:
        ingest_document.apply_async(args=[document_id], retry=False)
    except Exception as exc:  # kombu raises many types for a broker that is down
        log.warning("document %s waits for the sweeper: %s", document_id, exc)


RETRYING: dict[str, Any] = {
    "base": IngestTask,
    "bind": True,
    "acks_late": True,
    "autoretry_for": (TransientIngestError,),
    "max_retries": MAX_RETRIES,
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "retry_jitter": False,
}


# A service the pipeline needs being down (Chroma, the lexical index's disk) puts the document
# back in the queue, uncounted (Pipeline.run), and Celery retries it with backoff: 2, 4, 8 …
# up to 300 s between tries, about 13 minutes in all, before the document fails with the reason.
@app.task(name="ingest.document", **RETRYING)
def ingest_document(self: Task, document_id: str) -> Result:
    """Parse, chunk, embed and index one stored file. Running it twice is harmless."""
    return within_limit(self, [document_id], lambda pipeline: pipeline.run(document_id))[0]


@app.task(name="ingest.batch", **RETRYING)
def ingest_batch(self: Task, document_ids: list[str]) -> list[Result]:
    """Ingest several small stored files together; each ends ready or failed on its own.
    Running it twice is harmless."""
    return within_limit(self, document_ids, lambda pipeline: pipeline.run_many(document_ids))


def within_limit(
    task: Task, document_ids: list[str], work: Callable[[Pipeline], Outcomes]
) -> list[Result]:
    """work(pipeline) for these documents, claimed in the task's name (its id, the same when
    Celery redelivers it), then each document deferred by its batch sent on its own. Past the
    soft time limit a single document fails, saying so; a batch's unsettled documents are each
    sent on their own, with a time limit of their own."""
    holder = str(task.request.id or "")
    pipeline = services().pipeline(interrupts=(SoftTimeLimitExceeded,), holder=holder)
    try:
        done = work(pipeline)
    except SoftTimeLimitExceeded:
        if len(document_ids) > 1:
            split(pipeline, document_ids, "its batch ran out of time")
            return [{"document_id": d, "status": DEFERRED} for d in document_ids]
        limit = services().settings.task_time_limit
        pipeline.give_up(
            document_ids,
            f"processing took longer than the {limit} s limit (GPTU_TASK_TIME_LIMIT): split "
            "the file or raise the limit, then retry it",
        )
        return [{"document_id": d, "status": "failed"} for d in document_ids]
    results = done if isinstance(done, list) else [done]
    for result in results:
        if result["status"] == DEFERRED:
            send_alone(str(result["document_id"]))
    return results
