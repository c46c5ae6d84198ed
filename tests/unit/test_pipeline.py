"""Batches of small documents: one embedding call, yet each document ends in its own state."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from app.intake import task_groups
from core.db import Document
from ingest.errors import CorruptDocument, TransientIngestError
from ingest.lexical import LexicalIndex
from ingest.ocr import Ocr, Progress, Tesseract
from ingest.parse import Parsed, parse_file
from ingest.passage import Passage
from ingest.pipeline import Pipeline
from ingest.store import Job, Outcome
from tests.fakes import HashEmbedder
from tests.pdfs import deep_tree_pdf
from tests.scans import image_pdf, text_page

GOOD = {
    "depot.txt": "The depot opens at 6:45 on weekdays and at 8:00 on Saturdays.",
    "canteen.md": "# Canteen\n\nThe canteen closes at 14:30 daily.\n\nSoup is served from noon.",
    "long.txt": "\n\n".join(
        f"Paragraph {i} about vans, drivers and claims. " * 12 for i in range(9)
    ),
}
BAD = {
    "empty.txt": (b"", "empty file (0 bytes)"),
    "broken.docx": (b"not a zip at all", "damaged Word file"),
    "notes.xyz": (b"some words", "unsupported file type .xyz"),
}


@dataclass
class Row:
    """A document's state as the SQL store keeps it."""

    job: Job
    status: str = "queued"
    attempts: int = 0
    error: str | None = None
    outcome: Outcome | None = None
    stages: list[tuple[str, float]] = field(default_factory=list)


class MemoryStore:
    """`ingest.store.DocumentStore` in memory, with the SQL store's rules."""

    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}

    def claim(self, document_id: str, holder: str) -> Job | None:
        """Processing, the attempt counted; None when done."""
        row = self.rows.get(document_id)
        if row is None or row.status in ("ready", "failed"):
            return None
        row.status, row.error, row.attempts = "processing", None, row.attempts + 1
        return replace(row.job, attempt=row.attempts)

    def progress(self, document_id: str, stage: str, share: float) -> None:
        """Kept in order, as reported."""
        self.rows[document_id].stages.append((stage, share))

    def finish(self, document_id: str, outcome: Outcome) -> bool:
        """Ready with its counts."""
        row = self.rows[document_id]
        row.status, row.error, row.outcome = "ready", None, outcome
        return True

    def fail(self, document_id: str, reason: str) -> None:
        """Failed, saying why."""
        self.rows[document_id].status, self.rows[document_id].error = "failed", reason

    def release(self, document_id: str, reason: str) -> None:
        """Back to queued, uncounted."""
        row = self.rows[document_id]
        if row.status == "processing":
            row.status, row.error = "queued", f"waiting to retry: {reason}"
            row.attempts = max(0, row.attempts - 1)

    def unsettled(self, document_ids: list[str]) -> list[str]:
        """Queued or processing ones."""
        return [d for d in document_ids if self.rows[d].status in ("queued", "processing")]

    def requeue(self) -> None:
        """Every document queued again, as a redelivered task finds them."""
        for row in self.rows.values():
            row.status, row.attempts = "queued", 0


@dataclass
class MemoryVectors:
    """A vector index in a dict (one space), counting its write requests."""

    chunks: dict[str, Passage] = field(default_factory=dict)
    writes: int = 0

    def space(self, embedder_id: str) -> MemoryVectors:
        """The one space."""
        return self

    def replace_document(self, document_id: str, records: list[Passage]) -> None:
        """Replace one document's chunks."""
        self.replace_documents({document_id: records})

    def replace_documents(self, records: dict[str, list[Passage]]) -> None:
        """Replace several documents' chunks in one write."""
        self.writes += 1
        for document_id, passages in records.items():
            self.delete_document(document_id)
            self.chunks.update({p.id: p for p in passages})

    def delete_document(self, document_id: str) -> None:
        """Drop the document's chunks."""
        self.chunks = {k: p for k, p in self.chunks.items() if p.document_id != document_id}

    def count(self, document_id: str) -> int:
        """The document's chunks."""
        return sum(p.document_id == document_id for p in self.chunks.values())

    def search(
        self, text: str, vector: Sequence[float], collections: list[str], k: int
    ) -> list[Passage]:
        """Unused."""
        return []


class CountingEmbedder(HashEmbedder):
    """The hash embedder, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def embed(
        self, texts: list[str], progress: Callable[[float], None] | None = None
    ) -> list[list[float]]:
        """Count, then embed."""
        self.calls += 1
        return super().embed(texts, progress)


class BrokenLexical:
    """A lexical index whose disk is gone."""

    def replace_documents(self, records: dict[str, list[Passage]]) -> None:
        """Fail as a full or missing disk does."""
        raise OSError("disk I/O error")

    def delete_document(self, document_id: str) -> None:
        """Nothing to remove."""


@dataclass
class Bench:
    """A pipeline over memory fakes, a real FTS5 index and files in a temporary folder."""

    pipeline: Pipeline
    store: MemoryStore
    vectors: MemoryVectors
    lexical: LexicalIndex
    embedder: CountingEmbedder
    ids: dict[str, str]


@pytest.fixture
def bench(tmp_path: Path) -> Bench:
    store, vectors, embedder = MemoryStore(), MemoryVectors(), CountingEmbedder()
    lexical = LexicalIndex(tmp_path / "lexical.db")
    files = {name: (text.encode(), "") for name, text in GOOD.items()} | BAD
    ids = {}
    for i, (name, (body, _)) in enumerate(files.items()):
        path = tmp_path / f"file{i}"
        path.write_bytes(body)
        ids[name] = f"doc{i}"
        store.rows[f"doc{i}"] = Row(Job(f"doc{i}", name, "c", embedder.id, path, 0))
    pipeline = Pipeline(store, lambda _: embedder, vectors, lexical)
    return Bench(pipeline, store, vectors, lexical, embedder, ids)


def test_a_bad_file_fails_alone_and_the_batch_runs_twice_without_duplicates(bench: Bench) -> None:
    ids = list(bench.ids.values())
    results = bench.pipeline.run_many(ids)
    assert [r["document_id"] for r in results] == ids
    for name, (_, reason) in BAD.items():
        row = bench.store.rows[bench.ids[name]]
        assert row.status == "failed" and reason in (row.error or ""), (name, row.error)
        assert (
            bench.vectors.count(row.job.document_id)
            == bench.lexical.count(row.job.document_id)
            == 0
        )
    assert bench.embedder.calls == 1 and bench.vectors.writes == 1  # one call for the batch
    counts = {}
    for name in GOOD:
        row = bench.store.rows[bench.ids[name]]
        expected = bench.pipeline.read(row.job)[1]
        assert row.status == "ready" and row.outcome == expected, name
        counts[name] = expected.chunks
    assert counts["long.txt"] > 1 and counts["depot.txt"] == 1

    bench.store.requeue()
    bench.pipeline.run_many(ids)
    for name, chunks in counts.items():
        doc = bench.ids[name]
        assert bench.vectors.count(doc) == bench.lexical.count(doc) == chunks, name
    assert len(bench.vectors.chunks) == sum(counts.values())


def test_a_batch_pauses_before_each_document_and_each_batch_it_embeds(bench: Bench) -> None:
    pauses: list[str] = []
    bench.pipeline.pause = lambda: pauses.append("pause")  # the worker's ChatYield
    ids = list(bench.ids.values())
    bench.pipeline.run_many(ids)
    chunks = sum(bench.vectors.count(doc) for doc in ids)
    assert len(pauses) == len(ids) + -(-chunks // 32)  # each file read, each 32 chunks embedded


def test_a_batch_gives_the_same_chunks_as_documents_one_by_one(bench: Bench) -> None:
    good = [bench.ids[name] for name in GOOD]
    bench.pipeline.run_many(good)
    together = {k: (p.text, p.page, p.section, p.vector) for k, p in bench.vectors.chunks.items()}
    bench.store.requeue()
    for doc in good:
        bench.pipeline.run(doc)
    alone = {k: (p.text, p.page, p.section, p.vector) for k, p in bench.vectors.chunks.items()}
    assert together == alone


def test_a_transient_index_error_releases_the_batch_uncounted(bench: Bench) -> None:
    ids = list(bench.ids.values())
    bench.pipeline.lexical = BrokenLexical()  # type: ignore[assignment]
    with pytest.raises(TransientIngestError, match="disk I/O error"):
        bench.pipeline.run_many(ids)
    for name in GOOD:
        row = bench.store.rows[bench.ids[name]]
        assert (row.status, row.attempts) == ("queued", 0), name
        assert row.error == "waiting to retry: disk I/O error"
    assert all(bench.store.rows[bench.ids[name]].status == "failed" for name in BAD)

    bench.pipeline.lexical = bench.lexical
    bench.pipeline.run_many(ids)  # the retry
    assert all(bench.store.rows[bench.ids[name]].status == "ready" for name in GOOD)


def test_after_a_crash_each_document_runs_alone_and_the_culprit_fails_alone(bench: Bench) -> None:
    good = [bench.ids[name] for name in GOOD]
    culprit = bench.ids["depot.txt"]
    for doc in good:  # a delivery that claimed them all, then the worker was killed
        bench.store.rows[doc].status, bench.store.rows[doc].attempts = "processing", 1
    bench.store.rows[culprit].attempts = bench.pipeline.max_attempts  # killed it every time
    bench.pipeline.run_many(good)
    assert bench.embedder.calls == len(good) - 1  # one by one, the culprit not read at all
    assert bench.store.rows[culprit].status == "failed"
    assert "the worker stopped 3 times" in (bench.store.rows[culprit].error or "")
    assert all(bench.store.rows[d].status == "ready" for d in good if d != culprit)


def test_give_up_fails_only_unsettled_documents(bench: Bench) -> None:
    ids = list(bench.ids.values())
    bench.pipeline.run_many(ids[:1])
    bench.pipeline.give_up(ids, "out of time")
    assert bench.store.rows[ids[0]].status == "ready" and bench.vectors.count(ids[0]) == 1
    assert all(bench.store.rows[d].error == "out of time" for d in ids[1:])


def test_small_files_are_grouped_and_large_ones_go_alone_largest_first() -> None:
    sizes = [10, 70_000, 2_000, 500_000, 30, 64 * 1024]
    docs = [Document(id=f"d{i}", size=size) for i, size in enumerate(sizes)]
    groups = [[d.id for d in g] for g in task_groups(docs, per_task=2, small_kb=64)]
    assert groups == [["d3"], ["d1"], ["d5", "d2"], ["d4", "d0"]]
    assert task_groups(docs, per_task=1, small_kb=64) == [[d] for d in sorted(
        docs, key=lambda d: d.size, reverse=True)]  # fmt: skip


def test_a_large_document_reports_its_embedding_progress_then_indexing(tmp_path: Path) -> None:
    store, vectors, embedder = MemoryStore(), MemoryVectors(), CountingEmbedder()
    path = tmp_path / "big"
    path.write_text("\n\n".join(f"Paragraph {i} says the depot opens at {i}." for i in range(1500)))
    store.rows["big"] = Row(Job("big", "big.txt", "c", embedder.id, path, 0))
    clock = iter(range(0, 10_000, 2))  # each report two seconds after the last
    pauses: list[int] = []
    pipeline = Pipeline(store, lambda _: embedder, vectors, LexicalIndex(tmp_path / "l.db"),
                        chunk_chars=200, clock=lambda: next(clock),
                        pause=lambda: pauses.append(1))  # fmt: skip
    result = pipeline.run("big")
    chunks = int(result["chunks"])
    assert result["status"] == "ready" and chunks > 300
    stages = store.rows["big"].stages
    embedding = [share for stage, share in stages if stage == "embedding"]
    assert embedding == sorted(embedding) and embedding[0] == 0.0 and 0.9 < embedding[-1] < 1.0
    # the pipeline's first report, then the embedder's, one a batch of 32 (the clock allowing)
    assert len(embedding) == 1 + -(-chunks // 32)
    assert stages[-1] == ("indexing", 0.0)
    assert embedder.calls == 1 and vectors.count("big") == chunks  # the whole document at once
    assert len(pauses) == len(embedding)  # the worker may yield to the chat at every batch


def test_a_scan_reports_its_ocr_pages_at_most_once_a_second(tmp_path: Path) -> None:
    store, vectors, embedder = MemoryStore(), MemoryVectors(), CountingEmbedder()
    pages = [text_page([f"Page {n} of the depot rota", "Vans leave at seven"]) for n in range(4)]
    path = image_pdf(tmp_path / "scan", pages)
    for doc_id in ("slow", "fast"):
        store.rows[doc_id] = Row(Job(doc_id, "rota.pdf", "c", embedder.id, path, 0))
    lexical = LexicalIndex(tmp_path / "l.db")
    for doc_id, step in (("slow", 2.0), ("fast", 0.1)):
        clock = iter([x * step for x in range(1000)]).__next__  # step seconds a reading
        pipeline = Pipeline(store, lambda _: embedder, vectors, lexical, clock=clock,
                            ocr=Ocr(Tesseract()))  # fmt: skip
        assert pipeline.run(doc_id)["status"] == "ready"
    slow, fast = store.rows["slow"], store.rows["fast"]
    assert [s for s in slow.stages if s[0] == "ocr"] == [
        ("ocr", x) for x in (0, 0.25, 0.5, 0.75, 1)
    ]
    assert [s for s in fast.stages if s[0] == "ocr"] == [("ocr", 0.0)]  # 5 reports in 1 s
    assert [stage for stage, _ in slow.stages][-2:] == ["embedding", "indexing"]
    assert slow.outcome is not None and slow.outcome.ocr_pages == 4 and slow.outcome.pages == 4


class FaultyVectors(MemoryVectors):
    """Refuses its next `faults` writes as a backend refuses data it cannot take (not a
    service that is down), and always refuses the chunks of the documents in `refused`."""

    def __init__(self, faults: int = 0, refused: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.faults, self.refused = faults, refused

    def replace_documents(self, records: dict[str, list[Passage]]) -> None:
        """Refuse, or write."""
        if self.faults:
            self.faults -= 1
            raise RuntimeError("the vector store refused the write")
        if self.refused & records.keys():
            raise ValueError(f"metadata of {sorted(self.refused & records.keys())} refused")
        super().replace_documents(records)


def raising_parse(path: Path, filename: str, limit: int, ocr: Ocr | None,
                  progress: Progress | None) -> Parsed:  # fmt: skip
    """The real parser, except for .boom files, whose parser breaks as a bug would, and .io
    files, whose read meets an I/O error."""
    if filename.endswith(".boom"):
        raise ValueError("relative path can't be expressed as a file URI")
    if filename.endswith(".io"):
        raise OSError(5, "Input/output error")
    return parse_file(path, filename, limit, ocr, progress)


def batch_of(tmp_path: Path, store: MemoryStore, files: dict[str, bytes]) -> list[str]:
    """Stored files as queued rows; their ids in order."""
    for i, (name, body) in enumerate(files.items()):
        path = tmp_path / f"stored{i}"
        path.write_bytes(body)
        store.rows[name] = Row(Job(name, name, "c", HashEmbedder.id, path, 0))
    return list(files)


def good_files(n: int) -> dict[str, bytes]:
    """n small, readable text files, each with its own fact."""
    return {
        f"note{i}.txt": f"Locker {i} is opened with code {1000 + i}.".encode() for i in range(n)
    }


def test_an_unexpected_error_reading_one_file_fails_that_file_alone(tmp_path: Path) -> None:
    store, vectors, embedder = MemoryStore(), MemoryVectors(), CountingEmbedder()
    ids = batch_of(tmp_path, store, {**good_files(10), "report.boom": b"x", **good_files(20)})
    assert len(ids) == 21
    pipeline = Pipeline(store, lambda _: embedder, vectors, LexicalIndex(tmp_path / "l.db"),
                        parse=raising_parse)  # fmt: skip
    results = pipeline.run_many(ids)
    assert [r["status"] for r in results].count("ready") == 20
    bad = store.rows["report.boom"]
    assert bad.status == "failed" and results[ids.index("report.boom")]["status"] == "failed"
    assert "ValueError: relative path can't be expressed as a file URI" in (bad.error or "")
    assert "retry it" in (bad.error or "") and "log" not in (bad.error or "")
    assert embedder.calls == 1 and vectors.count("report.boom") == 0


def test_an_io_error_reading_one_file_sends_it_on_its_own_and_the_rest_go_on(
    tmp_path: Path,
) -> None:
    store, vectors, embedder = MemoryStore(), MemoryVectors(), CountingEmbedder()
    ids = batch_of(tmp_path, store, {"share.io": b"x", **good_files(20)})
    pipeline = Pipeline(store, lambda _: embedder, vectors, LexicalIndex(tmp_path / "l.db"),
                        parse=raising_parse)  # fmt: skip
    results = pipeline.run_many(ids)
    assert results[0] == {"document_id": "share.io", "status": "deferred"}
    row = store.rows["share.io"]
    assert (row.status, row.attempts) == ("queued", 0)  # back in the queue, uncounted
    assert "OSError: [Errno 5] Input/output error" in (row.error or "")
    assert all(store.rows[d].status == "ready" for d in ids[1:])


def test_a_deep_page_tree_pdf_among_good_files_fails_alone(tmp_path: Path) -> None:
    store, vectors, embedder = MemoryStore(), MemoryVectors(), CountingEmbedder()
    files = {**good_files(20), "rota.pdf": deep_tree_pdf(120, ["The depot opens at six."])}
    ids = batch_of(tmp_path, store, files)
    pipeline = Pipeline(store, lambda _: embedder, vectors, LexicalIndex(tmp_path / "l.db"))
    pipeline.run_many(ids)
    assert all(store.rows[d].status == "ready" for d in ids[:20])
    assert store.rows["rota.pdf"].status == "failed"
    assert "safety limit" in (store.rows["rota.pdf"].error or "")


def test_a_shared_step_failing_once_is_retried_per_document_and_all_end_ready(
    tmp_path: Path,
) -> None:
    store, embedder = MemoryStore(), CountingEmbedder()
    vectors = FaultyVectors(faults=1)
    ids = batch_of(tmp_path, store, good_files(21))
    pipeline = Pipeline(store, lambda _: embedder, vectors, LexicalIndex(tmp_path / "l.db"))
    results = pipeline.run_many(ids)
    assert [r["status"] for r in results] == ["ready"] * 21
    assert embedder.calls == 1 + 21  # the batch, then each document on its own
    assert all(vectors.count(d) == 1 for d in ids)


def test_a_document_a_backend_refuses_fails_alone_after_the_split(tmp_path: Path) -> None:
    store, embedder = MemoryStore(), CountingEmbedder()
    ids = batch_of(tmp_path, store, good_files(21))
    vectors = FaultyVectors(refused=frozenset({ids[7]}))
    pipeline = Pipeline(store, lambda _: embedder, vectors, LexicalIndex(tmp_path / "l.db"))
    pipeline.run_many(ids)
    refused = store.rows[ids[7]]
    assert refused.status == "failed" and vectors.count(ids[7]) == 0
    assert "indexing this file failed with an unexpected error (ValueError: metadata" in (
        refused.error or ""
    )
    assert all(store.rows[d].status == "ready" for d in ids if d != ids[7])


def test_a_transient_fault_once_retries_the_batch_and_all_end_ready(tmp_path: Path) -> None:
    store, embedder = MemoryStore(), CountingEmbedder()
    ids = batch_of(tmp_path, store, good_files(21))
    pipeline = Pipeline(store, lambda _: embedder, MemoryVectors(), BrokenLexical())  # type: ignore[arg-type]
    with pytest.raises(TransientIngestError):
        pipeline.run_many(ids)
    assert all((store.rows[d].status, store.rows[d].attempts) == ("queued", 0) for d in ids)
    pipeline.lexical = LexicalIndex(tmp_path / "l.db")
    assert [r["status"] for r in pipeline.run_many(ids)] == ["ready"] * 21


class SteppedEngine:
    """An OCR engine whose every page takes `seconds` on a clock the test owns."""

    name = "stepped"

    def __init__(self, seconds: float) -> None:
        self.now, self.seconds = 0.0, seconds

    def clock(self) -> float:
        """The test's time."""
        return self.now

    def read(self, image: object, dpi: int) -> list[str]:
        """One paragraph a page, `seconds` later."""
        self.now += self.seconds
        return ["Vans leave at seven from the north gate."]


def test_a_batch_shares_one_ocr_time_budget_and_sends_what_does_not_fit_on_its_own(
    tmp_path: Path,
) -> None:
    store, vectors, embedder = MemoryStore(), MemoryVectors(), CountingEmbedder()
    page = text_page(["Vans leave at seven", "from the north gate"])
    scans = {name: image_pdf(tmp_path / name, [page] * pages).read_bytes()
             for name, pages in (("a.pdf", 3), ("b.pdf", 3), ("huge.pdf", 10))}  # fmt: skip
    ids = batch_of(tmp_path, store, {**scans, **good_files(3)})
    engine = SteppedEngine(seconds=20)  # a 3-page scan takes 60 s; one document may take 100
    ocr = Ocr(engine, time_limit=100, clock=engine.clock)
    pipeline = Pipeline(store, lambda _: embedder, vectors, LexicalIndex(tmp_path / "l.db"),
                        ocr=ocr, clock=engine.clock)  # fmt: skip
    statuses = {r["document_id"]: r["status"] for r in pipeline.run_many(ids)}
    assert statuses["a.pdf"] == "ready"
    assert statuses["b.pdf"] == "deferred"  # 60 s would fit alone, not in the 40 s left
    assert "OCR time of its batch ran out" in (store.rows["b.pdf"].error or "")
    assert statuses["huge.pdf"] == "failed"  # 200 s: over one document's own limit
    assert "over the 1 s limit" not in (store.rows["huge.pdf"].error or "")
    assert all(statuses[d] == "ready" for d in ids[3:])
    assert pipeline.run("b.pdf")["status"] == "ready"  # on its own, with a budget of its own


class Interrupt(Exception):
    """Stands for the worker's soft time limit, which Celery raises as an Exception."""


def test_an_interrupt_a_parser_wrapped_as_a_reason_stops_the_batch_and_blames_no_file(
    tmp_path: Path,
) -> None:
    def parse(path: Path, filename: str, limit: int, ocr: Ocr | None,
              progress: Progress | None) -> Parsed:  # fmt: skip
        if filename == "slow.txt":  # unstructured's errors are caught whole and reworded
            try:
                raise Interrupt("soft time limit exceeded")
            except Exception as exc:
                raise CorruptDocument(f"could not read this text file: {exc}") from exc
        return parse_file(path, filename, limit, ocr, progress)

    store, embedder = MemoryStore(), CountingEmbedder()
    ids = batch_of(tmp_path, store, {**good_files(3), "slow.txt": b"x"})
    pipeline = Pipeline(store, lambda _: embedder, MemoryVectors(), LexicalIndex(tmp_path / "l"),
                        parse=parse, interrupts=(Interrupt,))  # fmt: skip
    with pytest.raises(Interrupt):
        pipeline.run_many(ids)
    assert store.rows["slow.txt"].status == "processing"  # the worker splits the batch
