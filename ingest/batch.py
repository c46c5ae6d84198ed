"""A batch of small documents: each read alone, all embedded and written together, each
recorded in its own state, so that no file fails because of its neighbour."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from core.errors import IndexUnavailable
from ingest.chunk import Chunk
from ingest.embed import Embedder
from ingest.errors import IngestError, trimmed, unexpected
from ingest.ocr import Ocr, OcrTimeExceeded, fits
from ingest.passage import Passage
from ingest.store import Job, Outcome

if TYPE_CHECKING:
    from ingest.pipeline import Pipeline

log = logging.getLogger(__name__)
# A service the pipeline needs is down: the documents go back to the queue and are retried.
TRANSIENT = (IndexUnavailable, ConnectionError, TimeoutError, OSError)
# A document of a batch put back in the queue to be ingested on its own (its own task): the
# worker sends it as `ingest.document`.
DEFERRED = "deferred"
Result = dict[str, int | str]
# Documents of one embedder read for a batch: each with its chunks and what it will record.
Read = list[tuple[Job, list[Chunk], Outcome]]


class Batch:
    """Claimed documents ingested together by one pipeline; OCR has one time budget for all."""

    def __init__(self, pipeline: Pipeline, jobs: list[Job]) -> None:
        self.pipeline = pipeline
        self.jobs = jobs
        self.results: dict[str, Result] = {}
        self.started = pipeline.clock()

    def run(self) -> dict[str, Result]:
        """Read each claimed document (failing alone), embed all their chunks in one call per
        embedder, write each index once, then record each outcome. OCR has one time budget
        for the whole batch; a shared step that fails for a reason other than a service
        being down is retried for each document on its own."""
        results = self.results
        read: dict[str, Read] = {}
        for job in self.jobs:
            self.pipeline.pause()
            chunks_or_result = self.read(job, self.ocr())
            if isinstance(chunks_or_result, dict):
                results[job.document_id] = chunks_or_result
            else:
                read.setdefault(job.embedder, []).append((job, *chunks_or_result))
        indexed: list[tuple[Job, Outcome]] = []
        try:
            for embedder_id, docs in read.items():
                indexed += self.index(embedder_id, docs)
        except TRANSIENT as exc:
            unsettled = [job for job in self.jobs if job.document_id not in results]
            raise self.pipeline.released(unsettled, exc) from exc
        for job, outcome in indexed:
            results[job.document_id] = self.pipeline.record(job, outcome)
        return results

    def ocr(self) -> Ocr | None:
        """OCR for the next document: what is left of one document's time limit, shared by
        the whole batch (so scans together cannot pass the task's time limit)."""
        ocr = self.pipeline.ocr
        if ocr is None:
            return None
        left = ocr.time_limit - (self.pipeline.clock() - self.started)
        return replace(ocr, time_limit=max(1.0, left))

    def read(self, job: Job, ocr: Ocr | None) -> tuple[list[Chunk], Outcome] | Result:
        """A document read on its own: its chunks, or its result when it failed (any error of
        its own file fails it alone, with a reason) or was deferred."""
        pipeline = self.pipeline
        try:
            return pipeline.read(job, ocr)
        except OcrTimeExceeded as exc:
            limit = pipeline.ocr.time_limit if pipeline.ocr is not None else 0.0
            if fits(exc.projected, limit):  # not this file's fault: its batch's time ran out
                return pipeline.deferred(job, "the OCR time of its batch ran out")
            return pipeline.failed(job, IngestError(exc.reason(limit)))
        except IngestError as exc:
            return pipeline.failed(job, exc)
        except pipeline.interrupts:
            raise
        except TRANSIENT as exc:  # retried on its own, as when it is alone
            return pipeline.deferred(job, f"{type(exc).__name__}: {trimmed(exc)}")
        except Exception as exc:
            log.exception("document %s: unexpected error while reading", job.document_id)
            return pipeline.failed(job, unexpected(exc, "reading"))

    def index(self, embedder_id: str, docs: Read) -> list[tuple[Job, Outcome]]:
        """Embed and write these documents of one embedder in one go; when that fails for a
        reason other than a service being down, each one on its own, so that only a document
        that fails alone ends failed. The documents written, to be recorded."""
        pipeline, results = self.pipeline, self.results
        try:
            embedder = pipeline.embedder(docs[0][0])
        except IngestError as exc:
            results.update({job.document_id: pipeline.failed(job, exc) for job, _, _ in docs})
            return []
        try:
            self.write(embedder_id, embedder, docs)
            return [(job, outcome) for job, _, outcome in docs]
        except pipeline.interrupts + TRANSIENT:
            raise
        except Exception as exc:
            log.warning(
                "%d documents could not be indexed together (%s: %s); each goes on its own",
                len(docs), type(exc).__name__, exc,
            )  # fmt: skip
        written: list[tuple[Job, Outcome]] = []
        for job, chunks, outcome in docs:
            try:
                self.write(embedder_id, embedder, [(job, chunks, outcome)])
            except pipeline.interrupts + TRANSIENT:
                raise
            except Exception as exc:
                log.exception("document %s: unexpected error while indexing", job.document_id)
                results[job.document_id] = pipeline.failed(job, unexpected(exc, "indexing"))
                continue
            written.append((job, outcome))
        return written

    def write(self, embedder_id: str, embedder: Embedder, docs: Read) -> None:
        """Embed the documents' chunks in one call and write them to both indexes."""
        texts = [c.text for _, chunks, _ in docs for c in chunks]
        vectors = iter(embedder.embed(texts, progress=lambda _: self.pipeline.pause()))
        by_document = {
            job.document_id: [to_record(job, c, next(vectors)) for c in chunks]
            for job, chunks, _ in docs
        }
        self.pipeline.vectors.space(embedder_id).replace_documents(by_document)
        self.pipeline.lexical.replace_documents(by_document)


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
