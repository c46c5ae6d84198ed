"""The lexical index: SQLite FTS5 ranked by bm25, filtered by collection inside the query."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from ingest.passage import Passage

WORD = re.compile(r"\w+", re.UNICODE)


class LexicalIndex:
    """Words in an SQLite FTS5 table ranked by bm25, filtered by collection in SQL."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.local = threading.local()
        with self._conn() as conn:
            conn.execute(
                "CREATE VIRTUAL TABLE IF NOT EXISTS chunks USING fts5("
                "text, id UNINDEXED, document_id UNINDEXED, n UNINDEXED, collection UNINDEXED,"
                " filename UNINDEXED, page UNINDEXED, section UNINDEXED,"
                " tokenize='unicode61 remove_diacritics 2')"
            )

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
        with self._conn() as conn:
            conn.execute("DELETE FROM chunks WHERE document_id = ?", (document_id,))
            conn.executemany(
                "INSERT INTO chunks (text, id, document_id, n, collection, filename, page, section)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        r.text,
                        r.id,
                        r.document_id,
                        r.chunk,
                        r.collection,
                        r.filename,
                        r.page,
                        r.section,
                    )
                    for r in records
                ],
            )

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

    def search(
        self, text: str, vector: Sequence[float], collections: list[str], k: int
    ) -> list[Passage]:
        """Best bm25 matches for any of the query's words, inside the given collections."""
        match = fts_query(text)
        if not match or not collections:
            return []
        marks = ",".join("?" * len(collections))
        sql = (
            "SELECT n, text, document_id, collection, filename, page, section, bm25(chunks)"
            f" FROM chunks WHERE chunks MATCH ? AND collection IN ({marks})"
            " ORDER BY bm25(chunks) LIMIT ?"
        )
        with self._conn() as conn:
            rows = conn.execute(sql, (match, *collections, k)).fetchall()
        return [
            Passage(
                chunk=int(r[0]),
                text=r[1],
                document_id=r[2],
                collection=r[3],
                filename=r[4],
                page=r[5],
                section=r[6],
                score=-float(r[7]),
                lexical=-float(r[7]),
            )
            for r in rows
        ]

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


def fts_query(text: str) -> str:
    """The query's words, each quoted, joined by OR: never FTS5 syntax from the user."""
    words = list(dict.fromkeys(w.lower() for w in WORD.findall(text)))[:64]
    return " OR ".join(f'"{w}"' for w in words)
