"""Reconciliation: SQL, Chroma, the lexical index and the stored files must tell one story.

Finds chunks whose document has no row (in Chroma and in the lexical index), stored files no
document names, ready documents whose chunks are missing or partial, and documents whose file
is gone; `fix` removes the orphans and sends incomplete documents through ingestion again.

Races are decided in favour of leaving things alone: the indexes and the files are listed
*before* the documents are read, and a row is always written before its chunks and removed
after them, so a chunk whose document has no row when the rows are read is a true orphan. A
document being ingested has a row, so its chunks are never orphans; queued and processing
documents are never judged; a ready document that looks incomplete is counted again before it
is reported.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.files import LEFTOVERS
from app.intake import Intake
from app.scratch import grace, leftovers, remove
from app.services import Services
from core.db import FAILED, QUEUED, READY, Collection, Document
from ingest.index import CHROMA_BATCH, reachable

log = logging.getLogger(__name__)
SHA256 = re.compile(r"^[0-9a-f]{64}$")
# An upload stores its file a moment before it writes the row (and a slow upload of many files
# longer): files younger than this are never called orphans.
FILE_GRACE = 3600.0
MISSING_FILE = (
    "its stored file is gone and its search index entries were incomplete, so it cannot be "
    "indexed again; upload the file again"
)
# The API's pass removes at most this many orphan chunks unless they are under half of Chroma.
SWEEP_SAFE = 1000
REINDEXING = "waiting to be indexed again: its chunks were missing from the search index"


@dataclass
class Report:
    """What a reconciliation pass found and, with fix, what it did."""

    orphan_vector_chunks: int = 0
    orphan_lexical_chunks: int = 0
    orphan_files: int = 0
    incomplete_documents: int = 0
    missing_files: int = 0  # of ready documents; those also incomplete are failed by fix
    scratch_leftovers: int = 0  # parsing folders of stopped workers (copies of stored files)
    fixed: bool = False
    removed_vector_chunks: int = 0
    removed_lexical_chunks: int = 0
    removed_files: int = 0
    removed_scratch: int = 0
    requeued: int = 0
    failed: int = 0

    def problems(self) -> int:
        """How many things were found out of place."""
        return (
            self.orphan_vector_chunks + self.orphan_lexical_chunks + self.orphan_files
            + self.incomplete_documents + self.missing_files + self.scratch_leftovers
        )  # fmt: skip

    def repairs(self) -> int:
        """How many things the fix changed."""
        return (
            self.removed_vector_chunks + self.removed_lexical_chunks + self.removed_files
            + self.removed_scratch + self.requeued + self.failed
        )  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return asdict(self)


@dataclass
class Findings:
    """The details behind a report: which chunks, files and documents."""

    report: Report = field(default_factory=Report)
    orphan_vectors: dict[str, list[str]] = field(default_factory=dict)  # Chroma name → doc ids
    orphan_lexical: list[str] = field(default_factory=list)
    orphan_files: list[str] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)
    scratch: list[Path] = field(default_factory=list)
    vector_chunks: int = 0  # all chunks in Chroma


@dataclass
class Row:
    """The columns of a document that reconciliation looks at."""

    id: str
    status: str
    chunks: int
    sha256: str
    space: str  # the Chroma collection its chunks belong in


class Doctor:
    """Checks and repairs one deployment; `intake` re-queues (without it, fix only reports)."""

    def __init__(
        self, services: Services, intake: Intake | None = None, safe: int = SWEEP_SAFE
    ) -> None:
        self.services = services
        self.intake = intake
        self.safe = safe
        self.files = services.files

    def check(self) -> Findings:
        """List the indexes and the files, then the documents, and compare."""
        vectors = self.vector_counts()
        lexical = self.services.lexical.document_counts()
        files = self.stored_files()
        rows = self.rows()
        found = Findings(vector_chunks=sum(sum(c.values()) for c in vectors.values()))
        report = found.report
        settings = self.services.settings
        found.scratch = leftovers(
            settings.scratch_dir, settings.files_dir, grace(settings.task_time_limit)
        )
        report.scratch_leftovers = len(found.scratch)
        for space, counts in vectors.items():
            orphans = [doc_id for doc_id in counts if doc_id not in rows]
            if orphans:
                found.orphan_vectors[space] = orphans
                report.orphan_vector_chunks += sum(counts[doc_id] for doc_id in orphans)
        found.orphan_lexical = [doc_id for doc_id in lexical if doc_id not in rows]
        report.orphan_lexical_chunks = sum(lexical[doc_id] for doc_id in found.orphan_lexical)
        named = {row.sha256 for row in rows.values()}
        found.orphan_files = [name for name in files if name not in named]
        report.orphan_files = len(found.orphan_files)
        for row in rows.values():
            if row.status != READY:
                continue  # queued or processing: on its way, not ours; failed: says why
            if not self.files.exists(row.sha256):
                report.missing_files += 1
            in_vectors = vectors.get(row.space, Counter())[row.id]
            counted = in_vectors == row.chunks and lexical.get(row.id, 0) == row.chunks
            if not counted and not self.complete_now(row.id):
                found.incomplete.append(row.id)
        report.incomplete_documents = len(found.incomplete)
        return found

    def fix(self, found: Findings) -> Report:
        """Remove orphan chunks and files; re-queue incomplete documents (or fail them)."""
        report = found.report
        report.fixed = True
        handles = {h.name: h for h in self.services.vectors.all_handles()}
        for space, doc_ids in found.orphan_vectors.items():
            if space in handles:
                report.removed_vector_chunks += delete_documents(handles[space], doc_ids)
        for doc_id in found.orphan_lexical:
            report.removed_lexical_chunks += self.services.lexical.count(doc_id)
            self.services.lexical.delete_document(doc_id)
        for name in found.orphan_files:
            if self.unreferenced(name):
                self.files.delete(name)
                report.removed_files += 1
        report.removed_scratch = remove(found.scratch)
        for doc_id in found.incomplete:
            self.mend(doc_id, report)
        return report

    def run(self, fix: bool = False) -> Report:
        """One pass: check, and fix when asked."""
        found = self.check()
        return self.fix(found) if fix else found.report

    def sweep(self) -> int:
        """The API's slow pass: check and fix, logging what was found; returns repairs.

        When most of Chroma looks orphaned the pass fixes nothing: that is what a Chroma
        server shared with another deployment (or the wrong GPTU_CHROMA_PORT) looks like,
        and a person should decide (`gptu doctor`, then `gptu doctor --fix`).
        """
        found = self.check()
        report = found.report
        if report.orphan_vector_chunks > max(self.safe, found.vector_chunks // 2):
            log.error(
                "reconciliation fixed nothing: %d of %d chunks in Chroma belong to no document "
                "of this database; is the Chroma server shared? Run gptu doctor by hand.",
                report.orphan_vector_chunks, found.vector_chunks,
            )  # fmt: skip
            return 0
        if report.problems():
            self.fix(found)
            log.warning("reconciliation: %s", report.as_dict())
        return report.repairs()

    def vector_counts(self) -> dict[str, Counter[str]]:
        """Chunks per document in each Chroma collection, from ids only (no vectors read)."""
        counts: dict[str, Counter[str]] = {}
        for handle in self.services.vectors.all_handles():
            per_doc: Counter[str] = Counter()
            for ids in id_pages(handle):
                per_doc.update(chunk_id.rsplit(":", 1)[0] for chunk_id in ids)
            counts[handle.name] = per_doc
        return counts

    def stored_files(self) -> list[str]:
        """Stored files (and leftovers of interrupted uploads and deletes) older than the grace
        period."""
        return [
            name
            for name in self.files.names(FILE_GRACE)
            if SHA256.match(name) or name.startswith(LEFTOVERS)
        ]

    def rows(self) -> dict[str, Row]:
        """Every document, with the Chroma collection its chunks belong in."""
        vectors = self.services.vectors
        with self.services.db.session() as session:
            found = session.execute(
                select(
                    Document.id, Document.status, Document.chunks, Document.sha256,
                    Collection.name, Collection.embedder,
                ).join(Collection, Collection.id == Document.collection_id)
            ).all()  # fmt: skip
        return {
            doc_id: Row(doc_id, status, chunks, sha, vectors.space(embedder).chroma_name(name))
            for doc_id, status, chunks, sha, name, embedder in found
        }

    def complete_now(self, document_id: str) -> bool:
        """Count a document again (it may have finished between the listing and the read)."""
        with self.services.db.session() as session:
            doc = session.get(Document, document_id)
            if doc is None or doc.status != READY:
                return True  # deleted or re-queued meanwhile: not incomplete
            collection = session.get(Collection, doc.collection_id)
            expected, name = doc.chunks, collection.name if collection else ""
            embedder = collection.embedder if collection else ""
        space = self.services.vectors.space(embedder)
        in_vectors = space.using(
            name, lambda h: len(h.get(where={"document_id": document_id}, include=[])["ids"])
        )
        return in_vectors == expected and self.services.lexical.count(document_id) == expected

    def unreferenced(self, name: str) -> bool:
        """Whether a file is still old and still named by no document, right before removal."""
        written = self.files.modified(name)
        if written is None or written >= time.time() - FILE_GRACE:
            return False
        with self.services.db.session() as session:
            return session.scalar(select(Document.id).where(Document.sha256 == name)) is None

    def mend(self, document_id: str, report: Report) -> None:
        """Send a ready document with missing chunks through ingestion again, or fail it when
        its file is gone too."""
        with self.services.db.session() as session:
            doc = session.get(Document, document_id)
            if doc is None or doc.status != READY:
                return
            if not self.files.exists(doc.sha256):
                doc.status, doc.error = FAILED, MISSING_FILE
                session.commit()
                self.services.vectors.delete_document(document_id)
                self.services.lexical.delete_document(document_id)
                report.failed += 1
                return
            if self.intake is None:
                return
            doc.status, doc.error, doc.attempts, doc.enqueued_at = QUEUED, REINDEXING, 0, None
            session.commit()
            self.intake.enqueue(session, doc)  # Redis down: the sweeper sends it later
            report.requeued += 1


def id_pages(handle: Any, page: int = CHROMA_BATCH) -> Iterator[list[str]]:
    """The ids in one Chroma collection, a page at a time (no vectors, no texts)."""
    offset = 0
    while True:
        with reachable():
            ids = list(handle.get(include=[], limit=page, offset=offset)["ids"])
        if ids:
            yield ids
        if len(ids) < page:
            return
        offset += len(ids)


def delete_documents(handle: Any, document_ids: list[str]) -> int:
    """Remove the chunks of these documents from one Chroma collection; returns how many."""
    removed = 0
    for start in range(0, len(document_ids), 100):
        where = {"document_id": {"$in": document_ids[start : start + 100]}}
        with reachable():
            removed += len(handle.get(where=where, include=[])["ids"])
            handle.delete(where=where)
    return removed
