"""The Celery application; configured from Settings on first use, so importing opens nothing."""

from __future__ import annotations

from typing import Any

from celery import Celery

from app.intake import INGEST_QUEUE
from core.settings import Settings

QUEUE = INGEST_QUEUE  # the sweeper (app.intake) measures it
SOURCES_QUEUE = "sources"  # syncs wait here, not behind a long ingestion backlog


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings for reliable, at-least-once ingestion on Redis."""
    return {
        "broker_url": settings.redis_url,
        # No result backend: a document's state lives in SQL. A Redis result backend also made
        # each send wait ~19 s of reconnect retries while Redis was down.
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_time_limit": settings.task_time_limit,
        "task_soft_time_limit": max(5, settings.task_time_limit - 30),
        "broker_transport_options": {
            "visibility_timeout": settings.visibility_timeout,
            "socket_connect_timeout": 3,
            "socket_timeout": 10,
        },
        "broker_connection_retry_on_startup": True,
        "worker_concurrency": settings.worker_concurrency,
        # A huge document leaves the pool process at GBs (e.g. 2.6 GB after an 872-page docx);
        # Python keeps that memory, so the process is replaced once the task is done.
        "worker_max_memory_per_child": settings.worker_max_memory_mb * 1024 or None,
        "worker_hijack_root_logger": False,
        "task_default_queue": QUEUE,
        "task_routes": {"sources.*": {"queue": SOURCES_QUEUE}},
        # Celery beat (`gptu beat`) asks this often which sources are due a sync
        "beat_schedule": {
            "sources-due": {"task": "sources.due", "schedule": settings.source_check},
        },
    }


def make_celery(settings: Settings) -> Celery:
    """A Celery app for sending tasks from the API or the CLI."""
    app = Celery("gptu")
    app.conf.update(celery_config(settings))
    return app


app = Celery("gptu", include=["worker.tasks", "worker.source_tasks"])


@app.on_configure.connect
def _configure(sender: Celery, **_: Any) -> None:
    sender.conf.update(celery_config(Settings()))
