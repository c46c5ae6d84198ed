"""Document intake: store uploads by sha256, record them, queue them, delete them, sweep."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import IO, Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from app.services import Services
from core.accounts import Caller, audit
from core.db import FAILED, PROCESSING, QUEUED, Collection, Document, utcnow
from core.errors import Conflict, PayloadTooLarge
from ingest.parse import extension, is_supported, supported_list

log = logging.getLogger(__name__)
# The Celery queue of ingestion tasks (worker.celery_app names it for the workers).
INGEST_QUEUE = "ingest"
STUCK_REASON = "processing stopped and did not resume (its worker was stopped or lost): retry it"


@dataclass
class Upload:
    """A file as it arrived: the name its owner gave it and a readable stream."""

    filename: str
    stream: IO[bytes]
    size: int | None = None


class Intake:
    """Owns the files folder and the queue; the API and the sweeper go through it."""

    def __init__(self, services: Services, celery: Any) -> None:
        self.services = services
        self.settings = services.settings
        self.celery = celery

    def check_sizes(self, uploads: list[Upload]) -> None:
        """Refuse the whole request, storing nothing, when any file is over the limit."""
        limit = self.settings.max_upload_bytes
        for upload in uploads:
            if upload.size is not None and upload.size > limit:
                raise PayloadTooLarge(
                    f"{clean_name(upload.filename)} is {upload.size / 1e6:.1f} MB; "
                    f"the limit is {self.settings.max_upload_mb:g} MB"
                )

    def accept(
        self, session: Session, collection: Collection, uploads: list[Upload], by: Caller
    ) -> list[Document]:
        """Store each file and record it queued (or failed when its type is unsupported).

        The queued rows are committed already marked sent, so a sweeper pass in the moment
        before their tasks go out does not send them a second time; the ones whose task could
        not be sent are marked unsent again (the sweeper's next pass sends them)."""
        self.check_sizes(uploads)
        docs: list[Document] = []
        try:
            for upload in uploads:
                sha, size = self.store(upload)
                doc = Document(
                    collection_id=collection.id,
                    filename=clean_name(upload.filename),
                    sha256=sha,
                    size=size,
                    uploaded_by=by.name,
                    uploaded_by_id=by.user_id,
                )
                if not is_supported(doc.filename):
                    shown = extension(doc.filename) or "(no extension)"
                    doc.status = FAILED
                    doc.error = f"unsupported file type {shown}; gptu reads {supported_list()}"
                else:
                    doc.enqueued_at = utcnow()
                session.add(doc)
                docs.append(doc)
            audit(session, by.name, "document.upload", collection.name,
                  files=[{"filename": d.filename, "sha256": d.sha256} for d in docs])  # fmt: skip
            session.commit()
        finally:
            for doc in docs:  # committed or not: the uploads' holds on their files end here
                self.services.files.settle(doc.sha256)
        self.enqueue_many(session, [d for d in docs if d.status == QUEUED])
        return docs

    def store(self, upload: Upload) -> tuple[str, int]:
        """Copy the stream into the file store, enforcing the size limit while copying."""
        stored = self.services.files.put(upload.stream, self.settings.max_upload_bytes)
        if stored is None:
            raise PayloadTooLarge(
                f"{clean_name(upload.filename)} is over the "
                f"{self.settings.max_upload_mb:g} MB limit"
            )
        return stored

    def enqueue(self, session: Session, doc: Document) -> bool:
        """Send the ingest task; when Redis is down the sweeper sends it later."""
        try:
            self.celery.send_task("ingest.document", args=[doc.id], retry=False)
        except Exception as exc:  # kombu raises many types for a broker that is down
            log.warning("queue unavailable, document %s waits for the sweeper: %s", doc.id, exc)
            return False
        doc.enqueued_at = utcnow()
        session.commit()
        return True

    def enqueue_many(self, session: Session, docs: list[Document]) -> int:
        """Send the documents' tasks: small files together (`ingest.batch`, up to
        GPTU_BATCH_DOCUMENTS a task), others one each; how many documents were sent. When
        Redis is down the rest wait for the sweeper (marked unsent)."""
        sent: set[str] = set()
        for group in task_groups(docs, self.settings.batch_documents, self.settings.batch_max_kb):
            ids = [doc.id for doc in group]
            try:
                if len(group) == 1:
                    self.celery.send_task("ingest.document", args=ids, retry=False)
                else:
                    self.celery.send_task("ingest.batch", args=[ids], retry=False)
            except Exception as exc:  # kombu raises many types for a broker that is down
                log.warning("queue unavailable, %d documents wait for the sweeper: %s",
                            len(docs) - len(sent), exc)  # fmt: skip
                break
            sent.update(ids)
        now = utcnow()
        for doc in docs:
            doc.enqueued_at = now if doc.id in sent else None
        session.commit()
        return len(sent)

    def retry(self, session: Session, doc: Document, collection: str, by: Caller) -> None:
        """Queue a failed document again, from its stored file, as if it were new (after a
        fix, or an install such as LibreOffice); its attempts count from zero."""
        if doc.status != FAILED:
            raise Conflict(f"{doc.filename} is {doc.status}; only a failed document is retried")
        if not self.services.files.exists(doc.sha256):
            raise Conflict(f"the file of {doc.filename} is no longer stored: upload it again")
        doc.status, doc.error, doc.attempts = QUEUED, None, 0
        doc.stage, doc.progress, doc.enqueued_at = None, None, None
        audit(session, by.name, "document.retry", collection,
              document_id=doc.id, filename=doc.filename)  # fmt: skip
        session.commit()
        self.enqueue(session, doc)

    def delete(self, session: Session, doc: Document) -> None:
        """Remove the document's chunks from every index, then its row, then its file unless
        another document holds the same bytes (an identical upload committed meanwhile
        included: `FileStore.delete_unused`)."""
        self.services.vectors.delete_document(doc.id)
        self.services.lexical.delete_document(doc.id)
        sha = doc.sha256
        session.delete(doc)
        session.commit()
        still_used = select(Document.id).where(Document.sha256 == sha).limit(1)
        # asked after the file is set aside, in a new transaction: it sees later commits
        self.services.files.delete_unused(sha, lambda: session.scalar(still_used) is not None)

    def sweep(self) -> int:
        """Send queued documents never sent; re-send those sent long ago only while no task
        waits in the queue (theirs were lost, e.g. Redis restarted without its data: a long
        backlog is no reason to send its documents twice); fail ones stuck processing."""
        now = utcnow()
        resend_before = now - timedelta(seconds=self.settings.requeue_after)
        stuck_before = now - timedelta(
            seconds=self.settings.visibility_timeout + self.settings.task_time_limit
        )
        due: ColumnElement[bool] = Document.enqueued_at.is_(None)
        if not queue_depth(self.settings.redis_url, INGEST_QUEUE):
            due = or_(due, Document.enqueued_at < resend_before)
        with self.services.db.session() as session:
            # with several API replicas on Postgres each row goes to one sweeper (SQLite has
            # one writer at a time anyway, and no FOR UPDATE)
            queued = session.scalars(
                select(Document)
                .where(Document.status == QUEUED, due)
                .with_for_update(skip_locked=True)
            ).all()
            sent = self.enqueue_many(session, list(queued))
            for doc in session.scalars(
                select(Document)
                .where(Document.status == PROCESSING, Document.updated_at < stuck_before)
                .with_for_update(skip_locked=True)
            ):
                doc.status, doc.error, doc.claimed_by = FAILED, STUCK_REASON, None
        return sent


def queue_depth(url: str, queue: str) -> int | None:
    """Tasks waiting in a Redis queue (None when Redis does not answer)."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        return int(client.llen(queue))
    except redis.RedisError:
        return None
    finally:
        client.close()


def task_groups(docs: list[Document], per_task: int, small_kb: int) -> list[list[Document]]:
    """Tasks for these documents: each large one alone, largest first (with several workers the
    long documents start early instead of ending a batch alone; size is a rough proxy for
    work), then the small ones (up to small_kb) in groups of up to per_task."""
    ordered = sorted(docs, key=lambda d: d.size, reverse=True)
    large = [[d] for d in ordered if d.size > small_kb * 1024 or per_task == 1]
    small = [d for d in ordered if d.size <= small_kb * 1024 and per_task > 1]
    return large + [small[i : i + per_task] for i in range(0, len(small), per_task)]


def clean_name(filename: str | None) -> str:
    """The owner's name for a file, kept only as a label: never used as a path."""
    name = "".join(ch for ch in (filename or "") if ch.isprintable()).strip()
    return name[:1024] or "unnamed"
