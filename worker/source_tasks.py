"""Celery tasks of sources: `sources.due` (sent by Celery beat every GPTU_SOURCE_CHECK
seconds) sends `sources.sync` for each source due; a sync lists the source and queues what
changed for ingestion."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy import or_, select

from app.intake import Intake
from core.db import Source, utcnow
from sources.sync import Syncer
from worker.celery_app import SOURCES_QUEUE, app
from worker.tasks import services

log = logging.getLogger(__name__)


@app.task(name="sources.sync", bind=True, acks_late=True)
def sync_source(self: Task, source_id: str) -> dict[str, Any] | None:
    """Sync one source (skipped while another sync of it runs). Running it twice is harmless."""
    syncer = Syncer(services(), Intake(services(), app), interrupts=(SoftTimeLimitExceeded,))
    return syncer.run(source_id, str(self.request.id or "sources.sync"))


@app.task(name="sources.due")
def sources_due() -> int:
    """Send a sync for every enabled source whose time has come and that no sync holds; its
    next time moves on by its interval at once, so the next check does not send it again."""
    now = utcnow()
    sent = 0
    with services().db.session() as session:
        due = session.scalars(
            select(Source)
            .where(
                Source.enabled.is_(True),
                Source.next_at <= now,
                or_(Source.lock_holder.is_(None), Source.lock_until < now),
            )
            .with_for_update(skip_locked=True)
        ).all()
        for source in due:
            source.next_at = now + timedelta(minutes=source.interval_minutes)
        ids = [source.id for source in due]
    for source_id in ids:
        sync_source.apply_async(args=[source_id], queue=SOURCES_QUEUE)
        sent += 1
    if sent:
        log.info("sent %d source sync(s)", sent)
    return sent
