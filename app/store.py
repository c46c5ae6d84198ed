"""The SQL side of ingestion: document rows move queued → processing → ready | failed."""

from __future__ import annotations

from sqlalchemy import select, update

from app.files import FileStore
from core.db import FAILED, PROCESSING, QUEUED, READY, Collection, Database, Document, utcnow
from ingest.store import PARSING, Job, Outcome


class SqlDocumentStore:
    """`ingest.store.DocumentStore` over the documents table; stored files are in `files`."""

    def __init__(self, db: Database, files: FileStore) -> None:
        self.db = db
        self.files = files

    def claim(self, document_id: str) -> Job | None:
        """Mark the document processing and count the attempt; None when gone or already done."""
        with self.db.session() as session:
            doc = session.get(Document, document_id)
            if doc is None or doc.status in (READY, FAILED):
                return None
            collection = session.get(Collection, doc.collection_id)
            if collection is None:
                return None
            doc.status, doc.error, doc.attempts = PROCESSING, None, doc.attempts + 1
            doc.stage, doc.progress = PARSING, 0.0
            return Job(
                document_id=doc.id,
                filename=doc.filename,
                collection=collection.name,
                embedder=collection.embedder,
                path=self.files.local(doc.sha256),
                attempt=doc.attempts,
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
            return True

    def fail(self, document_id: str, reason: str) -> None:
        """Mark the document failed, saying why (nothing to do when it was deleted)."""
        with self.db.session() as session:
            doc = session.get(Document, document_id)
            if doc is not None:
                doc.status, doc.error = FAILED, reason
                doc.stage, doc.progress = None, None

    def release(self, document_id: str, reason: str) -> None:
        """Back to queued, the attempt uncounted, saying what it waits for."""
        with self.db.session() as session:
            doc = session.get(Document, document_id)
            if doc is not None and doc.status == PROCESSING:
                doc.status, doc.error = QUEUED, f"waiting to retry: {reason}"
                doc.attempts = max(0, doc.attempts - 1)
                doc.stage, doc.progress = None, None
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
