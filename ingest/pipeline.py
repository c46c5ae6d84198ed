"""One document from stored file to searchable chunks: parse, chunk, embed, index, record."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

from core.db import FAILED, PROCESSING, READY, Collection, Database, Document
from ingest.chunk import Chunk, chunk_blocks
from ingest.embed import Embedder
from ingest.errors import IngestError, TransientIngestError
from ingest.guard import looks_like_injection, redact_pii
from ingest.index import ChunkRecord, Index
from ingest.parse import parse_file

log = logging.getLogger(__name__)


@dataclass
class Job:
    """What the pipeline needs to know about the document it works on."""

    document_id: str
    filename: str
    collection: str
    embedder: str
    path: Path


@dataclass
class Built:
    """A parsed, chunked and embedded document, with what the guardrails found."""

    pages: int
    records: list[ChunkRecord]
    flagged: int
    redacted: int


class Pipeline:
    """Runs documents through parse → chunk → embed → index and records the outcome."""

    def __init__(
        self,
        db: Database,
        files_dir: Path,
        embedder: Embedder,
        indexes: list[Index],
        chunk_chars: int = 1000,
        max_unpacked_bytes: int = 1 << 30,
        max_attempts: int = 3,
        redact: bool = False,
    ) -> None:
        self.db = db
        self.files_dir = files_dir
        self.embedder = embedder
        self.indexes = indexes
        self.chunk_chars = chunk_chars
        self.max_unpacked_bytes = max_unpacked_bytes
        self.max_attempts = max_attempts
        self.redact = redact

    def run(self, document_id: str) -> dict[str, int | str]:
        """Ingest one document; running it again gives the same chunks, never duplicates."""
        job = self.start(document_id)
        if job is None:
            return {"document_id": document_id, "status": "skipped"}
        started = time.monotonic()
        try:
            built = self.build(job)
            records = built.records
            for index in self.indexes:
                index.replace_document(job.document_id, records)
        except IngestError as exc:
            self.fail(job.document_id, str(exc))
            log.info("document %s failed: %s", job.document_id, exc)
            return {"document_id": document_id, "status": FAILED}
        except (ConnectionError, TimeoutError, OSError) as exc:
            raise TransientIngestError(f"index unavailable: {exc}") from exc
        pages = built.pages
        if not self.finish(job.document_id, READY, pages=pages, chunks=len(records),
                           flagged=built.flagged, redacted=built.redacted):  # fmt: skip
            self.drop_chunks(job.document_id)
            return {"document_id": document_id, "status": "deleted"}
        log.info(
            "document %s ready: %d pages, %d chunks in %.1fs",
            job.document_id,
            pages,
            len(records),
            time.monotonic() - started,
        )
        return {"document_id": document_id, "status": READY, "pages": pages, "chunks": len(records)}

    def start(self, document_id: str) -> Job | None:
        """Mark the document processing and return what to do, or None when nothing is left."""
        crashed = False
        with self.db.session() as session:
            doc = session.get(Document, document_id)
            if doc is None or doc.status in (READY, FAILED):
                return None
            if doc.attempts >= self.max_attempts:
                doc.status = FAILED
                doc.error = f"the worker stopped {doc.attempts} times while reading this file"
                crashed = True
            collection = session.get(Collection, doc.collection_id)
            job = None if collection is None or crashed else self._job(doc, collection)
        if crashed:
            self.drop_chunks(document_id)
        return job

    def _job(self, doc: Document, collection: Collection) -> Job:
        """Mark doc processing and describe the work."""
        doc.status, doc.error, doc.attempts = PROCESSING, None, doc.attempts + 1
        return Job(
            document_id=doc.id,
            filename=doc.filename,
            collection=collection.name,
            embedder=collection.embedder,
            path=self.files_dir / doc.sha256,
        )

    def build(self, job: Job) -> Built:
        """Parse, chunk, guard and embed the job's file."""
        if job.embedder != self.embedder.id:
            raise IngestError(
                f"collection {job.collection} uses embedder {job.embedder}, "
                f"this worker runs {self.embedder.id}"
            )
        if not job.path.exists():
            raise IngestError("the stored file is missing (deleted from data/files?)")
        parsed = parse_file(job.path, job.filename, self.max_unpacked_bytes)
        chunks = chunk_blocks(parsed.blocks, self.chunk_chars)
        redacted = 0
        if self.redact:
            for i, chunk in enumerate(chunks):
                text, found = redact_pii(chunk.text)
                chunks[i], redacted = replace(chunk, text=text), redacted + found
        flagged = sum(looks_like_injection(c.text) for c in chunks)
        vectors = self.embedder.embed([c.text for c in chunks])
        records = [to_record(job, c, v) for c, v in zip(chunks, vectors, strict=True)]
        return Built(parsed.pages, records, flagged, redacted)

    def finish(
        self,
        document_id: str,
        status: str,
        error: str | None = None,
        pages: int = 0,
        chunks: int = 0,
        flagged: int = 0,
        redacted: int = 0,
    ) -> bool:
        """Record the outcome; False when the document was deleted meanwhile."""
        with self.db.session() as session:
            doc = session.get(Document, document_id)
            if doc is None:
                return False
            doc.status, doc.error, doc.pages, doc.chunks = status, error, pages, chunks
            doc.flagged, doc.redacted = flagged, redacted
            return True

    def fail(self, document_id: str, reason: str) -> None:
        """Give up on a document: no chunks stay behind and it says why."""
        self.drop_chunks(document_id)
        self.finish(document_id, FAILED, error=reason)

    def drop_chunks(self, document_id: str) -> None:
        """Remove the document's chunks from every index."""
        for index in self.indexes:
            index.delete_document(document_id)


def to_record(job: Job, chunk: Chunk, vector: list[float]) -> ChunkRecord:
    """A chunk with the document facts an index stores beside it."""
    return ChunkRecord(
        document_id=job.document_id,
        n=chunk.n,
        collection=job.collection,
        filename=job.filename,
        text=chunk.text,
        page=chunk.page,
        section=chunk.section,
        vector=vector,
    )
