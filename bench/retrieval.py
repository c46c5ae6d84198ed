"""Retrieval benchmark, no chat model: which embedder and fusion find the right file.

Ingests a folder (default the company eval set, tests/eval/company: 154 look-alike documents)
through the real pipeline (parse → chunk → embed → index) into an in-process Chroma and an
SQLite FTS5 index, once per embedder, then asks every answerable question of the question file
and prints, per embedder: dense only, lexical only, hybrid as it was (body-only lexical, plain
RRF) and hybrid as gptu now searches (file names and section titles in the lexical index, at
most one chunk per document unless close): recall@1, recall@5 and MRR at file level (the rank
of the first expected file among the distinct files of the top 10 chunks, as `gptu eval`
counts), embedding speed in chunks/s, and the best-passage cosine of answerable vs
unanswerable questions (for GPTU_MIN_SIMILARITY). `--tune` adds a grid of fusion settings.

Run: `.venv/bin/python bench/retrieval.py [--tune] [--embedders minilm,bge-small,potion]`;
other sets: `--documents tests/eval/handbooks --questions tests/eval/handbooks.jsonl`, or
`--documents ../shared/corpus --questions tests/eval/corpus.jsonl --failing`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.services import DIVERSITY
from cli.localstack import ROOT
from core.offline import go_offline
from core.scoring import facts_recall
from ingest.embed import CANDIDATES, EMBEDDERS, Embedder, Shares
from ingest.index import ChromaIndex, fuse
from ingest.lexical import LexicalIndex
from ingest.passage import Passage
from ingest.pipeline import Pipeline
from ingest.search import Diversity, HybridSearch, diversify
from ingest.store import Job, Outcome

COLLECTION = "company"
TOP = 10  # chunks asked for, as `gptu eval` does
POOL = 50  # candidates per index before fusion (GPTU_SEARCH_POOL)
CHAT_K = 4  # chunks the answerer asks for (GPTU_CHAT_K)
BODY_ONLY = (1.0, 0.0, 0.0)


@dataclass
class MemoryStore:
    """The pipeline's document store, in memory: one job per file."""

    jobs: dict[str, Job]
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    failed: dict[str, str] | None = None  # None: a failure ends the benchmark

    def claim(self, document_id: str, holder: str) -> Job | None:
        """The job, every time (each embedder ingests every file once)."""
        return self.jobs.get(document_id)

    def progress(self, document_id: str, stage: str, share: float) -> None:
        """Nobody watches a benchmark's documents."""

    def finish(self, document_id: str, outcome: Outcome) -> bool:
        """Keep the outcome."""
        self.outcomes[document_id] = outcome
        return True

    def fail(self, document_id: str, reason: str) -> None:
        """A benchmark over a fixed set must not lose files, unless told that some fail
        (the shared corpus holds encrypted, empty and broken files on purpose)."""
        if self.failed is None:
            raise RuntimeError(f"{self.jobs[document_id].filename} failed: {reason}")
        self.failed[self.jobs[document_id].filename] = reason

    def release(self, document_id: str, reason: str) -> None:
        """Nothing to put back: the error propagates and ends the benchmark."""

    def unsettled(self, document_ids: list[str]) -> list[str]:
        """Every document runs to its end here."""
        return []


@dataclass
class Timed:
    """An embedder that counts the passages it embeds and the time it takes."""

    inner: Embedder
    chunks: int = 0
    seconds: float = 0.0

    @property
    def id(self) -> str:
        """The wrapped embedder's id."""
        return self.inner.id

    @property
    def dim(self) -> int:
        """The wrapped embedder's dimension."""
        return self.inner.dim

    def embed(self, texts: list[str], progress: Shares | None = None) -> list[list[float]]:
        """Embed passages, timed."""
        started = time.perf_counter()
        vectors = self.inner.embed(texts, progress)
        self.seconds += time.perf_counter() - started
        self.chunks += len(texts)
        return vectors

    def embed_query(self, texts: list[str]) -> list[list[float]]:
        """Embed queries (not timed)."""
        return self.inner.embed_query(texts)


@dataclass(frozen=True)
class Question:
    """One question of the set."""

    text: str
    expected: list[str]
    answer: str = ""  # the expected answer, whose facts the first chunks should hold


def load_questions(path: Path) -> tuple[list[Question], list[Question]]:
    """Answerable and unanswerable questions."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    answerable = [
        Question(r["question"], r["expected_sources"], r.get("expected_answer") or "")
        for r in rows
        if r["answerable"]
    ]
    other = [Question(r["question"], []) for r in rows if not r["answerable"]]
    return answerable, other


def rank_of(hits: list[Passage], expected: list[str]) -> int | None:
    """1-based rank of the first expected file among the distinct files of the hits."""
    files = list(dict.fromkeys(h.filename for h in hits))
    return next((r for r, name in enumerate(files, start=1) if name in expected), None)


def scores(ranks: list[int | None]) -> tuple[float, float, float]:
    """recall@1, recall@5, MRR."""
    n = len(ranks)
    return (
        sum(r == 1 for r in ranks) / n,
        sum(r is not None and r <= 5 for r in ranks) / n,
        sum(1 / r for r in ranks if r) / n,
    )


def seen(hits: list[Passage], expected: list[str]) -> tuple[bool, int]:
    """Whether an expected file is among the first CHAT_K chunks, and how many files they hold."""
    first = hits[:CHAT_K]
    return any(h.filename in expected for h in first), len({h.filename for h in first})


def ingest(
    folder: Path, embedder: Timed, vectors: ChromaIndex, lexical: LexicalIndex, failing: bool
) -> int:
    """Every file through the pipeline with this embedder; returns the chunk count. With
    `failing`, files that fail are listed and left out instead of ending the run."""
    jobs = {
        path.stem: Job(path.stem, path.name, COLLECTION, embedder.id, path, 1)
        for path in sorted(folder.iterdir())
        if path.is_file()
    }
    store = MemoryStore(jobs, failed={} if failing else None)
    pipeline = Pipeline(store, lambda _: embedder, vectors, lexical)
    for document_id in jobs:
        pipeline.run(document_id)
    if store.failed:
        print(f"{embedder.id}: {len(store.failed)} files failed and are left out: "
              f"{', '.join(sorted(store.failed))}")  # fmt: skip
    return sum(o.chunks for o in store.outcomes.values())


@dataclass
class Lists:
    """Each question's candidate lists from each retriever, asked once."""

    dense: list[list[Passage]]
    body: list[list[Passage]]
    named: list[list[Passage]]


def hybrid(
    lists: Lists,
    weights: tuple[float, float] = (1.0, 1.0),
    named: bool = True,
    diversity: Diversity | None = None,
) -> Callable[[int], list[Passage]]:
    """A retriever over precomputed lists: fused (RRF), then diversified."""

    def run(i: int) -> list[Passage]:
        lexical = lists.named[i] if named else lists.body[i]
        ranked = fuse([lists.dense[i], lexical], POOL, list(weights))
        return diversify(ranked, TOP, diversity)

    return run


def evaluate(questions: list[Question], retriever: Callable[[int], list[Passage]]) -> str:
    """'r@1 | r@5 | mrr | in first 4 chunks | files in first 4 | facts in first 4' of a
    retriever; the last is the share of the expected answer's numbers and names that the first
    CHAT_K chunks hold (the measure that tells retrievers apart on a set of few files)."""
    found = [retriever(i) for i in range(len(questions))]
    pairs = list(zip(found, questions, strict=True))
    r1, r5, mrr = scores([rank_of(hits, q.expected) for hits, q in pairs])
    chat = [seen(hits, q.expected) for hits, q in pairs]
    hit4 = sum(c[0] for c in chat) / len(chat)
    files4 = sum(c[1] for c in chat) / len(chat)
    held = [facts_recall(q.answer, " ".join(h.text for h in hits[:CHAT_K])) for hits, q in pairs]
    shares = [h for h in held if h is not None]
    facts4 = f"{sum(shares) / len(shares):.3f}" if shares else "n/a"
    return f"{r1:.3f} | {r5:.3f} | {mrr:.3f} | {hit4:.3f} | {files4:.2f} | {facts4}"


def spread(values: list[float]) -> str:
    """p10 / p50 / p90."""
    if len(values) < 2:
        return "n/a"
    q = statistics.quantiles(values, n=10)
    return f"{q[0]:.2f} / {statistics.median(values):.2f} / {q[-1]:.2f}"


def main() -> None:
    """Ingest, ask, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=Path, default=ROOT / "tests" / "eval" / "company")
    parser.add_argument("--questions", type=Path, default=ROOT / "tests" / "eval" / "company.jsonl")
    parser.add_argument("--embedders", default=",".join([*EMBEDDERS, *CANDIDATES]))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tune", action="store_true", help="also print a grid of settings")
    parser.add_argument(
        "--failing", action="store_true", help="leave out files that fail (the shared corpus)"
    )
    args = parser.parse_args()
    go_offline()
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    answerable, unanswerable = load_questions(args.questions)
    print(
        f"{args.documents.name}: {len(list(args.documents.iterdir()))} files, "
        f"{len(answerable)} answerable questions ({len(unanswerable)} unanswerable), "
        f"top {TOP} chunks, pool {POOL}"
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="gptu-bench-retrieval-") as tmp:
        client = chromadb.EphemeralClient(ChromaSettings(anonymized_telemetry=False))
        for name in args.embedders.split(","):
            embedder = Timed({**EMBEDDERS, **CANDIDATES}[name](threads=args.threads, batch_size=32))
            results.append(
                measure(name, embedder, ChromaIndex(client, embedder.id), Path(tmp), args,
                        (answerable, unanswerable))
            )  # fmt: skip
    print(
        "\n| embedder | retriever | recall@1 | recall@5 | MRR | expected file in first 4 chunks "
        "| files in first 4 chunks | facts in first 4 chunks |\n|---|---|---|---|---|---|---|---|"
    )
    print("\n".join(row for r in results for row in r.rows))
    print("\n| embedder | chunks | embedding chunks/s | pipeline chunks/s |\n|---|---|---|---|")
    print("\n".join(r.speed for r in results))
    print(
        "\nBest-passage cosine (dense top 1), p10 / p50 / p90 (count):\n"
        "| embedder | answerable, top hit from an expected file | answerable, top hit from "
        "another file | unanswerable |\n|---|---|---|---|"
    )
    print("\n".join(r.floor for r in results))
    if args.tune:
        print("\n| embedder | weights (vector, lexical) | name, section bm25 | per doc | close | "
              "recall@1 | recall@5 | MRR | in first 4 | files in first 4 | facts in first 4 |\n"
              "|---|---|---|---|---|---|---|---|---|---|---|")  # fmt: skip
        print("\n".join(row for r in results for row in r.grid))


@dataclass
class Measured:
    """One embedder's table rows."""

    rows: list[str]
    speed: str
    floor: str
    grid: list[str]


def measure(
    name: str,
    embedder: Timed,
    vectors: ChromaIndex,
    tmp: Path,
    args: argparse.Namespace,
    questions: tuple[list[Question], list[Question]],
) -> Measured:
    """Ingest with one embedder, then ask every question of every retriever."""
    answerable, unanswerable = questions
    lexical = LexicalIndex(tmp / "lexical.db")
    body = LexicalIndex(tmp / "lexical.db", weights=BODY_ONLY)
    started = time.perf_counter()
    chunks = ingest(args.documents, embedder, vectors, lexical, args.failing)
    wall = time.perf_counter() - started
    speed = (
        f"| {name} | {chunks} | {embedder.chunks / embedder.seconds:.1f} | {chunks / wall:.1f} |"
    )
    search = HybridSearch(embedder, vectors, lexical, POOL, diversity=DIVERSITY)
    ask = [q.text for q in answerable]
    qvecs = embedder.embed_query(ask)
    lists = Lists(
        dense=[vectors.search(t, v, [COLLECTION], POOL) for t, v in zip(ask, qvecs, strict=True)],
        body=[body.search(t, [], [COLLECTION], POOL) for t in ask],
        named=[lexical.search(t, [], [COLLECTION], POOL) for t in ask],
    )
    configs: list[tuple[str, Callable[[int], list[Passage]]]] = [
        ("dense only", lambda i: lists.dense[i][:TOP]),
        ("lexical only (body)", lambda i: lists.body[i][:TOP]),
        ("lexical only (+ names, sections)", lambda i: lists.named[i][:TOP]),
        ("hybrid as it was (body lexical, RRF)", hybrid(lists, named=False)),
        ("hybrid + names, sections", hybrid(lists)),
        ("hybrid + names, sections + diversity (gptu now)",
         lambda i: search.search(ask[i], [COLLECTION], TOP)),
    ]  # fmt: skip
    rows = [f"| {name} | {label} | {evaluate(answerable, run)} |" for label, run in configs]
    best = [(hits[0].similarity or 0.0, hits[0].filename) for hits in lists.dense]
    right = [s for (s, f), q in zip(best, answerable, strict=True) if f in q.expected]
    wrong = [s for (s, f), q in zip(best, answerable, strict=True) if f not in q.expected]
    none_vecs = embedder.embed_query([q.text for q in unanswerable])
    none = [
        vectors.search(q.text, v, [COLLECTION], 1)[0].similarity or 0.0
        for q, v in zip(unanswerable, none_vecs, strict=True)
    ]
    floor = (
        f"| {name} | {spread(right)} ({len(right)}) | {spread(wrong)} ({len(wrong)}) | "
        f"{spread(none)} ({len(none)}) |"
    )
    grid = tuning(name, answerable, lists, tmp) if args.tune else []
    return Measured(rows, speed, floor, grid)


def tuning(name: str, questions: list[Question], lists: Lists, tmp: Path) -> list[str]:
    """A grid of fusion weights, name/section weights and diversity settings."""
    out = []
    ask = [q.text for q in questions]
    for fields in ((0.5, 0.5), (1.0, 0.5), (0.5, 1.0), (1.0, 1.0), (2.0, 1.0), (1.0, 2.0)):
        index = LexicalIndex(tmp / "lexical.db", weights=(1.0, *fields))
        named = [index.search(t, [], [COLLECTION], POOL) for t in ask]
        variant = Lists(lists.dense, lists.body, named)
        for weights in ((1.0, 1.0), (1.0, 0.7), (0.7, 1.0)):
            for per_doc, close in ((9, 1.0), (1, 1.01), (1, 0.97), (1, 0.9), (2, 1.01)):
                diversity = None if per_doc == 9 else Diversity(per_doc, close)
                result = evaluate(questions, hybrid(variant, weights, True, diversity))
                out.append(
                    f"| {name} | {weights} | {fields} | {per_doc if diversity else '-'} | "
                    f"{close if diversity else '-'} | {result} |"
                )
    return out


if __name__ == "__main__":
    main()
