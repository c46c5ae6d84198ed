"""The lexical index in Postgres: full-text search with a GIN index, beside the other tables.

With `GPTU_DATABASE_URL=postgresql://…` every API and worker process shares it (the SQLite FTS5
index lives on one machine's disk). The same columns are searched as in FTS5: a chunk's text,
its file name as words and its section title, weighted 1, 1 and 0.5; words are matched as in
FTS5 (lower-cased, not stemmed), any of the question's words, ranked by the sum over the words
of bm25's inverse document frequency times `ts_rank` (length-normalised): plain `ts_rank` has no
IDF and lets "the" and "what" rank (company set, lexical only, bench/lexical.py: recall@5 0.87
plain, 0.95 with IDF, FTS5 bm25 0.95). The table is the index's own (like FTS5's file): made
here, not by migrations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.engine import Engine

from ingest.lexical import WEIGHTS, passage_of, query_words, searchable_name
from ingest.passage import Passage

TABLE = """
CREATE TABLE IF NOT EXISTS lexical_chunks (
    id text PRIMARY KEY,
    document_id text NOT NULL,
    n integer NOT NULL,
    collection text NOT NULL,
    filename text NOT NULL,
    page integer,
    section text,
    text text NOT NULL,
    name text NOT NULL,
    words tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', text), 'A')
        || setweight(to_tsvector('simple', name), 'B')
        || setweight(to_tsvector('simple', coalesce(section, '')), 'C')
    ) STORED
);
CREATE INDEX IF NOT EXISTS lexical_chunks_words ON lexical_chunks USING gin (words);
CREATE INDEX IF NOT EXISTS lexical_chunks_document ON lexical_chunks (document_id);
CREATE INDEX IF NOT EXISTS lexical_chunks_collection ON lexical_chunks (collection);
"""
FIELDS = "n, text, document_id, collection, filename, page, section"
COUNT = "SELECT count(*) FROM lexical_chunks WHERE collection = ANY(:collections)"


class PostgresLexicalIndex:
    """`ingest.index.Index` over Postgres full-text search, through the app's engine."""

    def __init__(self, engine: Engine, weights: tuple[float, float, float] = WEIGHTS) -> None:
        self.engine = engine
        # ts_rank's weights are for D, C, B, A: section is C, file name B, text A
        self.weights = [0.0, weights[2], weights[1], weights[0]]
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(4747)"))  # one creator at a time
            for statement in TABLE.split(";"):
                if statement.strip():
                    conn.execute(text(statement))

    def replace_document(self, document_id: str, records: list[Passage]) -> None:
        """Delete and insert the document's rows in one transaction."""
        self.replace_documents({document_id: records})

    def replace_documents(self, records: dict[str, list[Passage]]) -> None:
        """Delete and insert several documents' rows in one transaction."""
        rows = [
            {"id": r.id, "document_id": r.document_id, "n": r.chunk, "collection": r.collection,
             "filename": r.filename, "page": r.page, "section": r.section, "text": r.text,
             "name": searchable_name(r.filename)}
            for passages in records.values() for r in passages
        ]  # fmt: skip
        with self.engine.begin() as conn:
            conn.execute(
                text("DELETE FROM lexical_chunks WHERE document_id = ANY(:ids)"),
                {"ids": list(records)},
            )
            if rows:
                conn.execute(
                    text(
                        "INSERT INTO lexical_chunks (id, document_id, n, collection, filename,"
                        " page, section, text, name) VALUES (:id, :document_id, :n, :collection,"
                        " :filename, :page, :section, :text, :name)"
                    ),
                    rows,
                )

    def delete_document(self, document_id: str) -> None:
        """Remove the document's rows."""
        with self.engine.begin() as conn:
            conn.execute(
                text("DELETE FROM lexical_chunks WHERE document_id = :d"), {"d": document_id}
            )

    def count(self, document_id: str) -> int:
        """Rows stored for the document."""
        with self.engine.connect() as conn:
            found = conn.execute(
                text("SELECT count(*) FROM lexical_chunks WHERE document_id = :d"),
                {"d": document_id},
            ).scalar_one()
        return int(found)

    def document_counts(self) -> dict[str, int]:
        """Rows stored per document, for every document (one scan; reconciliation)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT document_id, count(*) FROM lexical_chunks GROUP BY document_id")
            )
            return {str(doc_id): int(n) for doc_id, n in rows}

    def passages(self, document_id: str) -> list[Passage]:
        """The document's chunks as stored, in document order (for re-embedding)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(f"SELECT {FIELDS} FROM lexical_chunks WHERE document_id = :d ORDER BY n"),
                {"d": document_id},
            ).all()
        return [passage_of(r) for r in rows]

    def search(
        self, text_: str, vector: Sequence[float], collections: list[str], k: int
    ) -> list[Passage]:
        """Best-ranked matches for any of the query's words, inside the given collections."""
        terms = query_words(text_)
        if not terms or not collections:
            return []
        scope = {"collections": collections}
        with self.engine.connect() as conn:
            total, *found = conn.execute(
                text(
                    f"SELECT ({COUNT}),"
                    + ", ".join(
                        f"({COUNT} AND words @@ to_tsquery('simple', :t{i}))"
                        for i in range(len(terms))
                    )
                ),
                {**scope, **{f"t{i}": quoted(t) for i, t in enumerate(terms)}},
            ).one()
            # bm25's inverse document frequency: a word most chunks hold counts for little
            kept = [(t, idf(int(total), int(df))) for t, df in zip(terms, found, strict=True) if df]
            if not kept:
                return []
            sql = text(
                f"SELECT {FIELDS}, (SELECT sum(i.idf * ts_rank(CAST(:weights AS real[]), words,"
                " to_tsquery('simple', i.t), 1)) FROM unnest(CAST(:terms AS text[]),"
                " CAST(:idfs AS float8[])) AS i(t, idf)) AS rank"
                " FROM lexical_chunks WHERE words @@ to_tsquery('simple', :query)"
                " AND collection = ANY(:collections) ORDER BY rank DESC, id LIMIT :k"
            )
            rows = conn.execute(
                sql,
                {**scope, "weights": self.weights, "k": k,
                 "terms": [quoted(t) for t, _ in kept], "idfs": [w for _, w in kept],
                 "query": " | ".join(quoted(t) for t, _ in kept)},
            ).all()  # fmt: skip
        return [passage_of(r[:7], float(r[7])) for r in rows]

    def ping(self) -> None:
        """Raise if the database cannot be read."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1 FROM lexical_chunks LIMIT 1"))


def quoted(word: str) -> str:
    """A word as a tsquery lexeme: never tsquery syntax from the user (words hold no quote)."""
    return f"'{word}'"


def idf(total: int, holding: int) -> float:
    """bm25's inverse document frequency of a word `holding` of `total` chunks contain."""
    return math.log((total - holding + 0.5) / (holding + 0.5) + 1)
