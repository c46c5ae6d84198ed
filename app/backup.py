"""Backup: the SQL database, the vectors, the lexical index and the stored files.

A backup is one folder: `gptu.db` and `lexical.db` (SQLite's online backup API) or, with
Postgres, `gptu.pgdump` (pg_dump of one snapshot: the tables and the lexical index), `files/`
(copies, named by sha256), `vectors/<chroma name>.jsonl` (id, text, metadata per chunk) with
`vectors/<chroma name>.npy` (the embeddings, float32, same row order), and `manifest.json`
(written last: counts and the sha256 of every part). The SQL database is copied first and
everything else is taken for the documents of that copy only, so nothing in a backup belongs
to no document, even while the API and workers keep writing: documents added later are left
out whole. A document deleted or re-ingested meanwhile may lack chunks or its file (`gptu
doctor --fix` after the restore mends or fails it). Documents that were queued or being
ingested in the copy are restored queued; the API's sweeper sends them to the workers again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.engine import make_url

from core.errors import Conflict, InvalidRequest
from core.settings import Settings
from core.tools import run_postgres_tool
from ingest.index import CHROMA_BATCH, GPTU_NAME, reachable
from ingest.lexical import LexicalIndex

log = logging.getLogger(__name__)
FORMAT = 1
MANIFEST = "manifest.json"
RESTORED = "waiting to be indexed again: it was being indexed when the backup was taken"
HASH_BLOCK = 1 << 20


class Unsupported(InvalidRequest):
    """The deployment uses something backup does not handle yet."""


class DamagedBackup(InvalidRequest):
    """The backup folder is incomplete or a part does not match its checksum."""


def libpq_url(settings: Settings) -> str:
    """The Postgres URL as libpq and its tools take it (no SQLAlchemy driver suffix)."""
    return settings.sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


def dump_postgres(settings: Settings, target: Path) -> tuple[list[dict[str, Any]], int]:
    """pg_dump one snapshot into target, and read that snapshot's documents and lexical chunk
    count in the same transaction (so the rest of the backup matches the dump exactly)."""
    import psycopg

    with psycopg.connect(libpq_url(settings)) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        [snapshot] = conn.execute("SELECT pg_export_snapshot()").fetchone() or [None]
        run_postgres_tool("pg_dump", libpq_url(settings), "--format=custom", "--no-owner",
                          f"--snapshot={snapshot}", f"--file={target}")  # fmt: skip
        rows = conn.execute(
            "SELECT d.id, d.sha256, d.chunks, c.name FROM documents d"
            " JOIN collections c ON c.id = d.collection_id"
        ).fetchall()
        lexical = conn.execute("SELECT count(*) FROM lexical_chunks").fetchone()
        conn.rollback()
    documents = [{"id": i, "sha256": h, "chunks": n, "collection": c} for i, h, n, c in rows]
    return documents, int(lexical[0]) if lexical else 0


def sqlite_path(settings: Settings) -> Path:
    """The SQLite file of the settings' database (a Postgres one is dumped instead)."""
    url = make_url(settings.sqlalchemy_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        raise Unsupported(
            f"backup and restore support SQLite and Postgres; GPTU_DATABASE_URL points at "
            f"{url.get_backend_name()}. Back that database up with its own tools, with the "
            "API and workers stopped."
        )
    return Path(url.database)


def copy_sqlite(source: Path, target: Path) -> None:
    """Copy an SQLite database that may be in use (the online backup API: a consistent copy)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(source, timeout=60)
    dst = sqlite3.connect(target, timeout=60)
    try:
        with dst:
            src.backup(dst)
    finally:
        dst.close()
        src.close()


def sha256_of(path: Path) -> str:
    """The sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def backup(
    settings: Settings, client: Any, target: Path, progress: Callable[[str], None] = log.info
) -> dict[str, Any]:
    """Write a backup of the deployment into target (a new or empty folder); the manifest."""
    database = None if settings.postgres else sqlite_path(settings)
    if target.exists() and any(target.iterdir()):
        raise Conflict(f"{target} is not empty; back up into a new folder")
    target.mkdir(parents=True, exist_ok=True)
    if database is None:
        documents, lexical = dump_postgres(settings, target / "gptu.pgdump")
        progress(f"database (Postgres, with the lexical index): {len(documents)} documents")
    else:
        copy_sqlite(database, target / "gptu.db")
        documents = settle(target / "gptu.db")
        progress(f"database: {len(documents)} documents")
    files = copy_files(settings.files_dir, target / "files", {d["sha256"] for d in documents})
    progress(f"files: {files['copied']} copied, {files['missing']} missing")
    if database is not None:
        if not settings.lexical_path.exists():
            LexicalIndex(settings.lexical_path)  # never written to yet: an empty index
        copy_sqlite(settings.lexical_path, target / "lexical.db")
        lexical = keep_only(target / "lexical.db", [d["id"] for d in documents])
    progress(f"lexical index: {lexical} chunks")
    chroma = [
        part
        for handle in gptu_collections(client)
        if (part := export_collection(handle, documents, target / "vectors")) is not None
    ]
    progress(f"vectors: {sum(c['count'] for c in chroma)} chunks")
    manifest = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(),
        "database": "sqlite" if database is not None else "postgresql",
        "counts": {
            "documents": len(documents),
            "files": files["copied"],
            "files_missing": files["missing"],
            "lexical_chunks": lexical,
            "vector_chunks": sum(c["count"] for c in chroma),
        },
        "chroma": chroma,
        "parts": {
            str(path.relative_to(target)): sha256_of(path)
            for path in sorted(target.rglob("*"))
            if path.is_file()
        },
    }
    scratch = target / (MANIFEST + ".tmp")
    scratch.write_text(json.dumps(manifest, indent=1))
    scratch.replace(target / MANIFEST)
    return manifest


def settle(database: Path) -> list[dict[str, Any]]:
    """Make the copy restorable: documents in flight become queued, unsent (the restored
    deployment's sweeper sends them); return every document with its collection."""
    conn = sqlite3.connect(database)
    try:
        with conn:
            conn.execute(
                "UPDATE documents SET status = 'queued', error = ?, enqueued_at = NULL"
                " WHERE status = 'processing'",
                (RESTORED,),
            )
            conn.execute("UPDATE documents SET enqueued_at = NULL WHERE status = 'queued'")
        rows = conn.execute(
            "SELECT d.id, d.sha256, d.chunks, c.name FROM documents d"
            " JOIN collections c ON c.id = d.collection_id"
        ).fetchall()
    finally:
        conn.close()
    return [{"id": i, "sha256": s, "chunks": n, "collection": c} for i, s, n, c in rows]


def copy_files(source: Path, target: Path, names: set[str]) -> dict[str, int]:
    """Copy the stored files that documents name; count those already gone."""
    target.mkdir(parents=True, exist_ok=True)
    copied = missing = 0
    for name in sorted(names):
        if (source / name).is_file():
            shutil.copy2(source / name, target / name)
            copied += 1
        else:
            missing += 1
    return {"copied": copied, "missing": missing}


def keep_only(lexical: Path, document_ids: list[str]) -> int:
    """Remove from a lexical index copy the chunks of documents not in the backup; count."""
    conn = sqlite3.connect(lexical, isolation_level=None)
    try:
        conn.execute("CREATE TEMP TABLE keep (id TEXT PRIMARY KEY)")
        conn.executemany("INSERT OR IGNORE INTO keep VALUES (?)", [(i,) for i in document_ids])
        conn.execute("DELETE FROM chunks WHERE document_id NOT IN (SELECT id FROM keep)")
        conn.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        return int(conn.execute("SELECT count(*) FROM chunks").fetchone()[0])
    finally:
        conn.close()


def gptu_collections(client: Any) -> list[Any]:
    """Every gptu Chroma collection on the server, of every embedder."""
    with reachable():
        return [
            client.get_collection(c.name, embedding_function=None)
            for c in client.list_collections()
            if GPTU_NAME.match(c.name)
        ]


def batches(documents: list[dict[str, Any]]) -> Iterator[list[str]]:
    """Document ids in groups of about CHROMA_BATCH chunks (at most 100 documents)."""
    group: list[str] = []
    chunks = 0
    for doc in documents:
        group.append(doc["id"])
        chunks += doc["chunks"]
        if chunks >= CHROMA_BATCH or len(group) >= 100:
            yield group
            group, chunks = [], 0
    if group:
        yield group


def export_collection(
    handle: Any, documents: list[dict[str, Any]], folder: Path
) -> dict[str, Any] | None:
    """Write one Chroma collection's chunks of the backup's documents; None when it has none."""
    meta = dict(handle.metadata or {})
    mine = [d for d in documents if d["collection"] == meta.get("gptu_collection")]
    folder.mkdir(parents=True, exist_ok=True)
    records, raw = folder / f"{handle.name}.jsonl", folder / f"{handle.name}.f32"
    count, dim = 0, 0
    with records.open("w") as rows, raw.open("wb") as vectors:
        for group in batches(mine):
            with reachable():
                got = handle.get(
                    where={"document_id": {"$in": group}},
                    include=["embeddings", "documents", "metadatas"],
                )
            if not got["ids"]:
                continue
            matrix = np.asarray(got["embeddings"], dtype="<f4")
            dim = matrix.shape[1]
            vectors.write(matrix.tobytes())
            for chunk_id, text, chunk_meta in zip(
                got["ids"], got["documents"], got["metadatas"], strict=True
            ):
                rows.write(json.dumps({"id": chunk_id, "text": text, "meta": chunk_meta}) + "\n")
            count += len(got["ids"])
    if not count:
        records.unlink()
        raw.unlink()
        return None
    npy = folder / f"{handle.name}.npy"
    with npy.open("wb") as out, raw.open("rb") as body:
        header = {"descr": "<f4", "fortran_order": False, "shape": (count, dim)}
        np.lib.format.write_array_header_1_0(out, header)
        shutil.copyfileobj(body, out)
    raw.unlink()
    return {"name": handle.name, "metadata": meta, "count": count, "dim": dim,
            "records": f"vectors/{records.name}", "embeddings": f"vectors/{npy.name}"}  # fmt: skip
