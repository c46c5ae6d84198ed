"""The lexical index: SQLite FTS5 ranked by bm25, filtered by collection inside the query.

Besides a chunk's text, its file name (separators read as spaces, extension dropped) and its
section title are searchable columns, so a question naming a file or a heading finds it.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from ingest.passage import Passage

WORD = re.compile(r"\w+", re.UNICODE)
SEPARATORS = re.compile(r"[\W_]+", re.UNICODE)
COLUMNS = (
    "text, name, section, id UNINDEXED, document_id UNINDEXED, n UNINDEXED,"
    " collection UNINDEXED, filename UNINDEXED, page UNINDEXED"
)
FIELDS = "text, name, section, id, document_id, n, collection, filename, page"
# bm25 weights of text, file name and section title (bench/retrieval.py: names and sections
# took hybrid recall@1 from .78 to .83 on the company set; 0.5 to 2 all within one question).
WEIGHTS = (1.0, 1.0, 0.5)


class LexicalIndex:
    """Words in an SQLite FTS5 table ranked by bm25, filtered by collection in SQL."""

    def __init__(self, path: Path, weights: tuple[float, float, float] = WEIGHTS) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.weights = weights
        self.local = threading.local()
        with self._conn() as conn:
            columns = [r[1] for r in conn.execute("PRAGMA table_info(chunks)")]
            if columns and "name" not in columns:
                conn.execute("ALTER TABLE chunks RENAME TO chunks_before_names")
            conn.execute(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS chunks USING fts5({COLUMNS},"
                " tokenize='unicode61 remove_diacritics 2')"
            )
            if columns and "name" not in columns:
                _add_names(conn)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=60000")
            self.local.conn = conn
        return _Tx(conn)  # type: ignore[return-value]

    def replace_document(self, document_id: str, records: list[Passage]) -> None:
        """Delete and insert the document's rows in one transaction."""
        self.replace_documents({document_id: records})

    def replace_documents(self, records: dict[str, list[Passage]]) -> None:
        """Delete and insert several documents' rows in one transaction."""
        with self._conn() as conn:
            conn.executemany("DELETE FROM chunks WHERE document_id = ?", [(d,) for d in records])
            conn.executemany(
                f"INSERT INTO chunks ({FIELDS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (r.text, searchable_name(r.filename), r.section, r.id, r.document_id,
                     r.chunk, r.collection, r.filename, r.page)
                    for passages in records.values() for r in passages
                ],
            )  # fmt: skip

    def delete_document(self, document_id: str) -> None:
        """Remove the document's rows."""
        with self._conn() as conn:
            conn.execute("DELETE FROM chunks WHERE document_id = ?", (document_id,))

    def count(self, document_id: str) -> int:
        """Rows stored for the document."""
        with self._conn() as conn:
            row = conn.execute(
                "SELECT count(*) FROM chunks WHERE document_id = ?", (document_id,)
            ).fetchone()
        return int(row[0])

    def document_counts(self) -> dict[str, int]:
        """Rows stored per document, for every document (one scan; reconciliation)."""
        with self._conn() as conn:
            rows = conn.execute("SELECT document_id, count(*) FROM chunks GROUP BY document_id")
            return {str(doc_id): int(n) for doc_id, n in rows}

    def passages(self, document_id: str) -> list[Passage]:
        """The document's chunks as stored, in document order (for re-embedding)."""
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT n, text, document_id, collection, filename, page, section FROM chunks"
                " WHERE document_id = ? ORDER BY CAST(n AS INTEGER)",
                (document_id,),
            ).fetchall()
        return [passage_of(r) for r in rows]

    def search(
        self, text: str, vector: Sequence[float], collections: list[str], k: int
    ) -> list[Passage]:
        """Best bm25 matches for any of the query's words, inside the given collections."""
        match = fts_query(text)
        if not match or not collections:
            return []
        marks = ",".join("?" * len(collections))
        if not any(self.weights[1:]):  # names and sections weigh nothing: not searched
            match = f"text : ({match})"
        rank = "bm25(chunks, {}, {}, {})".format(*(float(w) for w in self.weights))
        sql = (
            f"SELECT n, text, document_id, collection, filename, page, section, {rank}"
            f" FROM chunks WHERE chunks MATCH ? AND collection IN ({marks})"
            f" ORDER BY {rank} LIMIT ?"
        )
        with self._conn() as conn:
            rows = conn.execute(sql, (match, *collections, k)).fetchall()
        return [passage_of(r[:7], -float(r[7])) for r in rows]

    def ping(self) -> None:
        """Raise if the index file cannot be read."""
        with self._conn() as conn:
            conn.execute("SELECT 1").fetchone()


class _Tx:
    """A connection used as `with`: BEGIN IMMEDIATE … COMMIT, rollback on error."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


def passage_of(row: Sequence[object], bm25: float | None = None) -> Passage:
    """A stored row (n, text, document_id, collection, filename, page, section) as a passage,
    its rank as the lexical score (FTS5 here, Postgres in app/lexical.py)."""
    n, text, document_id, collection, filename, page, section = row
    return Passage(
        chunk=int(str(n)),
        text=str(text),
        document_id=str(document_id),
        collection=str(collection),
        filename=str(filename),
        page=int(str(page)) if page is not None else None,
        section=str(section) if section is not None else None,
        score=bm25 or 0.0,
        lexical=bm25,
    )


def _add_names(conn: sqlite3.Connection) -> None:
    """Move rows from a table made before file names were searchable, then drop it."""
    conn.create_function("searchable_name", 1, searchable_name, deterministic=True)
    conn.execute(
        f"INSERT INTO chunks ({FIELDS}) SELECT text, searchable_name(filename), section, id,"
        " document_id, n, collection, filename, page FROM chunks_before_names"
    )
    conn.execute("DROP TABLE chunks_before_names")


def searchable_name(filename: str) -> str:
    """A file name as words: 'travel-policy_2023.md' → 'travel policy 2023'."""
    stem = filename.rsplit(".", 1)[0] if "." in filename.lstrip(".") else filename
    return SEPARATORS.sub(" ", stem).strip()


def query_words(text: str) -> list[str]:
    """The query's distinct words, lower-cased (at most 64): what both lexical indexes match."""
    return list(dict.fromkeys(w.lower() for w in WORD.findall(text)))[:64]


def fts_query(text: str) -> str:
    """The query's words, each quoted, joined by OR: never FTS5 syntax from the user."""
    return " OR ".join(f'"{w}"' for w in query_words(text))
