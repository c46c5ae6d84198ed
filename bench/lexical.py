"""Lexical index benchmark: SQLite FTS5 (bm25) vs Postgres full-text search, same chunks.

Parses and chunks the company eval documents (tests/eval/company) once, writes the chunks to
both indexes, asks every answerable question of tests/eval/company.jsonl of each index alone
(lexical only, no vectors) and prints recall@1, recall@5 and MRR at file level (as `gptu eval`
counts), search p50, and the ratio Postgres / SQLite. A private Postgres cluster is started in a
temporary folder (no root needed; as root it runs as the `postgres` user).

Run: `.venv/bin/python bench/lexical.py`.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.lexical import PostgresLexicalIndex
from bench.retrieval import POOL, TOP, load_questions, rank_of, scores
from cli.localstack import ROOT, free_port
from cli.postgres import start_postgres
from core.db import make_engine
from core.offline import go_offline
from core.settings import Settings
from ingest.chunk import chunk_blocks
from ingest.lexical import LexicalIndex
from ingest.parse import parse_file
from ingest.passage import Passage

DOCUMENTS = ROOT / "tests" / "eval" / "company"
QUESTIONS = ROOT / "tests" / "eval" / "company.jsonl"


def passages() -> dict[str, list[Passage]]:
    """Every company document's chunks, by document id."""
    out = {}
    for path in sorted(DOCUMENTS.iterdir()):
        blocks = parse_file(path, path.name, 1 << 30).blocks
        out[path.stem] = [
            Passage(document_id=path.stem, chunk=c.n, collection="company", filename=path.name,
                    text=c.text, page=c.page, section=c.section)
            for c in chunk_blocks(blocks, 1000)
        ]  # fmt: skip
    return out


def measure(index: LexicalIndex | PostgresLexicalIndex, questions: list[str],
            expected: list[list[str]]) -> tuple[tuple[float, float, float], float]:  # fmt: skip
    """(recall@1, recall@5, MRR) and search p50 in ms, lexical only."""
    ranks, times = [], []
    for question, files in zip(questions, expected, strict=True):
        started = time.perf_counter()
        hits = index.search(question, [], ["company"], POOL)[:TOP]
        times.append(time.perf_counter() - started)
        ranks.append(rank_of(hits, files))
    return scores(ranks), statistics.median(times) * 1000


def main() -> None:
    """Build both indexes, ask, print."""
    go_offline()
    folder = Path(tempfile.mkdtemp(prefix="gptu-lexical-"))
    cluster = start_postgres(folder / "pg", free_port())
    try:
        url = Settings(database_url=cluster.url).sqlalchemy_url
        indexes = {
            "sqlite-fts5": LexicalIndex(folder / "lexical.db"),
            "postgres-fts": PostgresLexicalIndex(make_engine(url)),
        }
        chunks = passages()
        for index in indexes.values():
            for document_id, records in chunks.items():
                index.replace_document(document_id, records)
        answerable, _ = load_questions(QUESTIONS)
        texts, files = [q.text for q in answerable], [q.expected for q in answerable]
        print(f"{len(answerable)} answerable questions, {sum(map(len, chunks.values()))} chunks")
        print("index          | recall@1 | recall@5 | mrr   | search p50 ms")
        results = {}
        for name, index in indexes.items():
            (r1, r5, mrr), p50 = results[name] = measure(index, texts, files)
            print(f"{name:14} | {r1:.3f}    | {r5:.3f}    | {mrr:.3f} | {p50:.1f}")
        (a, ta), (b, tb) = results["sqlite-fts5"], results["postgres-fts"]
        print(f"postgres/sqlite: recall@5 {b[1] / a[1]:.2f}x, mrr {b[2] / a[2]:.2f}x, "
              f"search time {tb / ta:.2f}x")  # fmt: skip
    finally:
        cluster.close()


if __name__ == "__main__":
    main()
