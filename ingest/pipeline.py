"""One document from stored file to searchable chunks: parse, chunk, embed, index, record."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from core.errors import IndexUnavailable
from ingest.batch import DEFERRED, TRANSIENT, Batch, Result, to_record
from ingest.chunk import Chunk, chunk_blocks
from ingest.embed import Embedder, EmbedderUnavailable
from ingest.errors import IngestError, TransientIngestError, unexpected
from ingest.guard import looks_like_injection, redact_pii
from ingest.index import Index, VectorIndex
from ingest.ocr import Ocr, Progress
from ingest.parse import Parsed, parse_file
from ingest.passage import Passage
from ingest.store import EMBEDDING, INDEXING, OCR, DocumentStore, Job, Outcome

log = logging.getLogger(__name__)
Parse = Callable[[Path, str, int, Ocr | None, Progress | None], Parsed]


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
        clock: Callable[[], float] = time.monotonic,
        ocr: Ocr | None = None,
        parse: Parse = parse_file,
        interrupts: tuple[type[BaseException], ...] = (),
        holder: str = "",
        pause: Callable[[], None] = lambda: None,
    ) -> None:
        """`parse` reads a stored file (a test may give its own); `interrupts` are exceptions
        that must stop the work rather than fail a document (the worker's soft time limit);
        `holder` names the work in the documents it claims (the worker's task id: a second
        task for a document already being read skips it), a fresh id when not given; `pause`
        is called between two batches of the work (core.priority.ChatYield: it waits while
        the chat model generates)."""
        self.store = store
        self.embedders = embedders
        self.vectors = vectors
        self.lexical = lexical
        self.chunk_chars = chunk_chars
        self.max_unpacked_bytes = max_unpacked_bytes
        self.max_attempts = max_attempts
        self.redact = redact
        self.clock = clock
        self.ocr = ocr
        self.parse = parse
        self.interrupts = interrupts
        self.holder = holder or f"local-{uuid.uuid4().hex}"
        self.pause = pause

    def run(self, document_id: str) -> Result:
        """Ingest one document; running it again gives the same chunks, never duplicates."""
        job = self.store.claim(document_id, self.holder)
        if job is None:
            return {"document_id": document_id, "status": "skipped"}
        return self.ingest(job)

    def run_many(self, document_ids: list[str]) -> list[Result]:
        """Ingest several small documents together: one embedding call per embedder and one
        write per index for all of them, yet each ends ready or failed on its own.

        A document seen before by an attempt that stopped (the worker killed mid-batch) is
        ingested alone as soon as it is claimed, so a file that kills the worker fails alone
        after `max_attempts` without dragging the rest of its batch along. A document that
        cannot finish within the batch (its OCR would pass the batch's time, or reading its
        file met an I/O error) ends `deferred`: back in the queue, for a task of its own.
        """
        results: dict[str, Result] = {}
        together: list[Job] = []
        try:
            for document_id in document_ids:
                job = self.store.claim(document_id, self.holder)
                if job is None:
                    results[document_id] = {"document_id": document_id, "status": "skipped"}
                elif job.attempt > 1:
                    results[document_id] = self.ingest(job)
                else:
                    together.append(job)
            results.update(Batch(self, together).run())
        except TransientIngestError:
            for job in together:  # claimed and not yet settled: back to the queue, uncounted
                if job.document_id not in results:
                    self.store.release(job.document_id, "another document of its batch waits")
            raise
        return [results[document_id] for document_id in document_ids]

    def ingest(self, job: Job) -> Result:
        """Build and index one claimed document, then record its outcome."""
        document_id = job.document_id
        if job.attempt > self.max_attempts:
            self.fail(
                document_id,
                f"the worker stopped {job.attempt - 1} times while reading this file (it may "
                "need more memory or time than the worker has): split or convert it, then "
                "retry it",
            )
            return {"document_id": document_id, "status": "failed"}
        started = time.monotonic()
        try:
            records, outcome = self.build(job)
            built = time.monotonic()
            self.vectors.space(job.embedder).replace_document(job.document_id, records)
            self.lexical.replace_document(job.document_id, records)
        except IngestError as exc:
            return self.failed(job, exc)
        except self.interrupts:
            raise
        except TRANSIENT as exc:
            raise self.released([job], exc) from exc
        except Exception as exc:
            log.exception("document %s: unexpected error", document_id)
            return self.failed(job, unexpected(exc, "reading or indexing"))
        result = self.record(job, outcome)
        log.info("document %s %s in %.1fs (indexing %.1fs)", document_id, result["status"],
                 time.monotonic() - started, time.monotonic() - built)  # fmt: skip
        return result

    def build(self, job: Job) -> tuple[list[Passage], Outcome]:
        """Parse, chunk, guard and embed the job's file, saying how far the embedding is."""
        embedder = self.embedder(job)
        started = time.monotonic()
        chunks, outcome = self.read(job)
        log.info("document %s read in %.1fs: %d chunks", job.document_id,
                 time.monotonic() - started, len(chunks))  # fmt: skip
        report = self.progress(job, EMBEDDING)
        report(0.0)
        vectors = embedder.embed([c.text for c in chunks], progress=report)
        self.store.progress(job.document_id, INDEXING, 0.0)
        records = [to_record(job, c, v) for c, v in zip(chunks, vectors, strict=True)]
        return records, outcome

    def embedder(self, job: Job) -> Embedder:
        """The embedder of the job's collection; an IngestError when it is not available."""
        try:
            return self.embedders(job.embedder)
        except EmbedderUnavailable as exc:
            raise IngestError(
                f"the embedder of collection {job.collection} is not available on this "
                f"server ({exc}); retry it once that is fixed"
            ) from exc

    def read(self, job: Job, ocr: Ocr | None = None) -> tuple[list[Chunk], Outcome]:
        """Parse, chunk and guard the job's file: its chunks and what it will record. OCR
        as `ocr` says (a batch's share of the time), else as the pipeline's."""
        if not job.path.exists():
            raise IngestError(
                "the stored file is missing from the server's file store (data/files): "
                "upload the file again"
            )
        parsed = self.parse(
            job.path,
            job.parse_name,
            self.max_unpacked_bytes,
            ocr or self.ocr,
            self.progress(job, OCR),
        )
        chunks = chunk_blocks(parsed.blocks, self.chunk_chars)
        redacted = 0
        if self.redact:
            for i, chunk in enumerate(chunks):
                text, found = redact_pii(chunk.text)
                chunks[i], redacted = replace(chunk, text=text), redacted + found
        flagged = sum(looks_like_injection(c.text) for c in chunks)
        return chunks, Outcome(parsed.pages, len(chunks), flagged, redacted, parsed.ocr_pages)

    def progress(self, job: Job, stage: str) -> Callable[[float], None]:
        """Records the share of a document's stage done (its OCR pages, its chunks embedded):
        the first report, then at most one a second; and pauses at each (a page, a batch)."""
        shown: float | None = None

        def report(share: float) -> None:
            nonlocal shown
            self.pause()
            if shown is None or self.clock() - shown >= 1.0:
                self.store.progress(job.document_id, stage, share)
                shown = self.clock()

        return report

    def record(self, job: Job, outcome: Outcome) -> Result:
        """Mark an indexed document ready; drop its chunks if it was deleted meanwhile."""
        if not self.store.finish(job.document_id, outcome):
            self.drop_chunks(job.document_id)
            return {"document_id": job.document_id, "status": "deleted"}
        return {"document_id": job.document_id, "status": "ready", "pages": outcome.pages,
                "chunks": outcome.chunks}  # fmt: skip

    def failed(self, job: Job, exc: IngestError) -> Result:
        """Fail a document for a permanent reason of its own; unless the reason wraps an
        interrupt (a parser that catches every error caught the worker's soft time limit):
        that is raised again, to stop the work, not to blame the file."""
        if isinstance(exc.__cause__, self.interrupts):
            raise exc.__cause__
        self.fail(job.document_id, str(exc))
        log.info("document %s failed: %s", job.document_id, exc)
        return {"document_id": job.document_id, "status": "failed"}

    def deferred(self, job: Job, why: str) -> Result:
        """Put a batch's document back in the queue, uncounted, to be ingested on its own."""
        self.store.release(job.document_id, f"{why}; it is read on its own next")
        log.info("document %s deferred from its batch: %s", job.document_id, why)
        return {"document_id": job.document_id, "status": DEFERRED}

    def released(self, jobs: list[Job], exc: Exception) -> TransientIngestError:
        """Put documents back in the queue, uncounted, while a service they need is down."""
        reason = exc.message if isinstance(exc, IndexUnavailable) else str(exc)
        for job in jobs:
            self.store.release(job.document_id, reason)
        return TransientIngestError(reason)

    def give_up(self, document_ids: list[str], reason: str) -> None:
        """Fail those of these documents that are not settled yet (a task that ran out of
        time or retries); ready ones keep their chunks."""
        for document_id in self.store.unsettled(document_ids):
            self.fail(document_id, reason)

    def fail(self, document_id: str, reason: str) -> None:
        """Give up on a document: no chunks stay behind and it says why."""
        self.drop_chunks(document_id)
        self.store.fail(document_id, reason)

    def drop_chunks(self, document_id: str) -> None:
        """Remove the document's chunks from every index (every vector space)."""
        self.vectors.delete_document(document_id)
        self.lexical.delete_document(document_id)
