"""The SQL side of ingestion: document rows move queued → processing → ready | failed."""

from __future__ import annotations

from sqlalchemy import and_, or_, select, update

from app.files import FileStore
from core.db import FAILED, PROCESSING, QUEUED, READY, Collection, Database, Document, utcnow
from ingest.store import PARSING, Job, Outcome


class SqlDocumentStore:
    """`ingest.store.DocumentStore` over the documents table; stored files are in `files`."""

    def __init__(self, db: Database, files: FileStore) -> None:
        self.db = db
        self.files = files

    def claim(self, document_id: str, holder: str) -> Job | None:
        """Mark a queued document processing by `holder` (a task id) and count the attempt;
        None when it is gone, done, or processing under another holder. One conditional
        UPDATE, so two workers given the same document (a task re-sent by the sweeper while
        the first still waited in Redis) never both read it; the same holder takes it again
        (its task redelivered after the worker was lost), and that attempt counts."""
        with self.db.session() as session:
            taken = session.execute(
                update(Document)
                .where(
                    Document.id == document_id,
                    or_(
                        Document.status == QUEUED,
                        and_(Document.status == PROCESSING, Document.claimed_by == holder),
                    ),
                )
                .values(
                    status=PROCESSING,
                    error=None,
                    attempts=Document.attempts + 1,
                    stage=PARSING,
                    progress=0.0,
                    claimed_by=holder,
                )
                .execution_options(synchronize_session=False)
            )
            if not taken.rowcount:  # type: ignore[attr-defined]
                return None
            doc = session.get(Document, document_id)
            collection = session.get(Collection, doc.collection_id) if doc else None
            if doc is None or collection is None:
                return None
            return Job(
                document_id=doc.id,
                filename=doc.filename,
                collection=collection.name,
                embedder=collection.embedder,
                path=self.files.local(doc.sha256),
                attempt=doc.attempts,
                parse_as=doc.parse_as,
            )

    def progress(self, document_id: str, stage: str, share: float) -> None:
        """Record the stage and share done of a document that is processing."""
        with self.db.session() as session:
            session.execute(
                update(Document)
                .where(Document.id == document_id, Document.status == PROCESSING)
                .values(stage=stage, progress=round(min(max(share, 0.0), 1.0), 3))
            )

    def finish(self, document_id: str, outcome: Outcome) -> bool:
        """Mark the document ready with its counts; False when it was deleted meanwhile."""
        with self.db.session() as session:
            doc = session.get(Document, document_id)
            if doc is None:
                return False
            doc.status, doc.error = READY, None
            doc.pages, doc.chunks = outcome.pages, outcome.chunks
            doc.flagged, doc.redacted = outcome.flagged, outcome.redacted
            doc.ocr_pages, doc.stage, doc.progress = outcome.ocr_pages, None, None
            doc.claimed_by = None
            return True

    def fail(self, document_id: str, reason: str) -> None:
        """Mark the document failed, saying why (nothing to do when it was deleted)."""
        with self.db.session() as session:
            doc = session.get(Document, document_id)
            if doc is not None:
                doc.status, doc.error = FAILED, reason
                doc.stage, doc.progress, doc.claimed_by = None, None, None

    def release(self, document_id: str, reason: str) -> None:
        """Back to queued, the attempt uncounted, saying what it waits for."""
        with self.db.session() as session:
            doc = session.get(Document, document_id)
            if doc is not None and doc.status == PROCESSING:
                doc.status, doc.error = QUEUED, f"waiting to retry: {reason}"
                doc.attempts = max(0, doc.attempts - 1)
                doc.stage, doc.progress, doc.claimed_by = None, None, None
                doc.enqueued_at = utcnow()

    def unsettled(self, document_ids: list[str]) -> list[str]:
        """Those of these documents that are still queued or processing."""
        with self.db.session() as session:
            found = session.scalars(
                select(Document.id).where(
                    Document.id.in_(document_ids), Document.status.in_((QUEUED, PROCESSING))
                )
            )
            return list(found)
