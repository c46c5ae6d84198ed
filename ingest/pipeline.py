"""One document from stored file to searchable chunks: parse, chunk, embed, index, record."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

from core.errors import IndexUnavailable
from ingest.chunk import Chunk, chunk_blocks
from ingest.embed import Embedder, EmbedderUnavailable
from ingest.errors import IngestError, TransientIngestError
from ingest.guard import looks_like_injection, redact_pii
from ingest.index import Index, VectorIndex
from ingest.parse import parse_file
from ingest.passage import Passage
from ingest.store import DocumentStore, Job, Outcome

log = logging.getLogger(__name__)


class Pipeline:
    """Runs documents through parse → chunk → embed → index and records the outcome.

    Each document is embedded by the embedder its collection records (`embedders` looks it up
    by id) into that embedder's space of the vector index.
    """

    def __init__(
        self,
        store: DocumentStore,
        embedders: Callable[[str], Embedder],
        vectors: VectorIndex,
        lexical: Index,
        chunk_chars: int = 1000,
        max_unpacked_bytes: int = 1 << 30,
        max_attempts: int = 3,
        redact: bool = False,
    ) -> None:
        self.store = store
        self.embedders = embedders
        self.vectors = vectors
        self.lexical = lexical
        self.chunk_chars = chunk_chars
        self.max_unpacked_bytes = max_unpacked_bytes
        self.max_attempts = max_attempts
        self.redact = redact

    def run(self, document_id: str) -> dict[str, int | str]:
        """Ingest one document; running it again gives the same chunks, never duplicates."""
        job = self.store.claim(document_id)
        if job is None:
            return {"document_id": document_id, "status": "skipped"}
        if job.attempt > self.max_attempts:
            self.fail(
                document_id, f"the worker stopped {job.attempt - 1} times while reading this file"
            )
            return {"document_id": document_id, "status": "failed"}
        started = time.monotonic()
        try:
            records, outcome = self.build(job)
            self.vectors.space(job.embedder).replace_document(job.document_id, records)
            self.lexical.replace_document(job.document_id, records)
        except IngestError as exc:
            self.fail(job.document_id, str(exc))
            log.info("document %s failed: %s", job.document_id, exc)
            return {"document_id": document_id, "status": "failed"}
        except (IndexUnavailable, ConnectionError, TimeoutError, OSError) as exc:
            reason = exc.message if isinstance(exc, IndexUnavailable) else str(exc)
            self.store.release(job.document_id, reason)
            raise TransientIngestError(reason) from exc
        if not self.store.finish(job.document_id, outcome):
            self.drop_chunks(job.document_id)
            return {"document_id": document_id, "status": "deleted"}
        log.info(
            "document %s ready: %d pages, %d chunks in %.1fs",
            job.document_id,
            outcome.pages,
            outcome.chunks,
            time.monotonic() - started,
        )
        return {"document_id": document_id, "status": "ready", "pages": outcome.pages,
                "chunks": outcome.chunks}  # fmt: skip

    def build(self, job: Job) -> tuple[list[Passage], Outcome]:
        """Parse, chunk, guard and embed the job's file."""
        try:
            embedder = self.embedders(job.embedder)
        except EmbedderUnavailable as exc:
            raise IngestError(f"collection {job.collection}: {exc}") from exc
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
        vectors = embedder.embed([c.text for c in chunks])
        records = [to_record(job, c, v) for c, v in zip(chunks, vectors, strict=True)]
        return records, Outcome(parsed.pages, len(records), flagged, redacted)

    def fail(self, document_id: str, reason: str) -> None:
        """Give up on a document: no chunks stay behind and it says why."""
        self.drop_chunks(document_id)
        self.store.fail(document_id, reason)

    def drop_chunks(self, document_id: str) -> None:
        """Remove the document's chunks from every index (every vector space)."""
        self.vectors.delete_document(document_id)
        self.lexical.delete_document(document_id)


def to_record(job: Job, chunk: Chunk, vector: list[float]) -> Passage:
    """A chunk with the document facts an index stores beside it."""
    return Passage(
        document_id=job.document_id,
        chunk=chunk.n,
        collection=job.collection,
        filename=job.filename,
        text=chunk.text,
        page=chunk.page,
        section=chunk.section,
        vector=vector,
    )
