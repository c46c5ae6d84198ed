"""Restore a backup (see app/backup.py for its layout) into an empty deployment.

Every part is checked against the manifest's sha256 before anything is written; the target
must hold no documents, lexical chunks or Chroma chunks unless the caller forces it. The SQL
database (and lexical index) is restored first; only once that succeeded are the target's gptu
Chroma collections replaced, so a restore that fails on the database leaves the target as it was.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from app.backup import (
    FORMAT,
    MANIFEST,
    RESTORED,
    DamagedBackup,
    copy_sqlite,
    gptu_collections,
    libpq_url,
    sha256_of,
    sqlite_path,
)
from core.errors import Conflict
from core.settings import Settings
from core.tools import run_postgres_tool
from ingest.index import CHROMA_BATCH, reachable

log = logging.getLogger(__name__)


def verify(source: Path) -> dict[str, Any]:
    """The backup's manifest, once every part is there and matches its checksum."""
    try:
        manifest: dict[str, Any] = json.loads((source / MANIFEST).read_text())
    except FileNotFoundError as exc:
        raise DamagedBackup(f"{source} has no {MANIFEST}: it is not a finished backup") from exc
    except (ValueError, OSError) as exc:
        raise DamagedBackup(f"{source / MANIFEST} cannot be read: {exc}") from exc
    if manifest.get("format") != FORMAT:
        raise DamagedBackup(f"{source} has backup format {manifest.get('format')!r}, not {FORMAT}")
    for name, expected in manifest.get("parts", {}).items():
        path = source / name
        if not path.is_file():
            raise DamagedBackup(f"the backup is damaged: {name} is missing")
        if sha256_of(path) != expected:
            raise DamagedBackup(f"the backup is damaged: {name} does not match its checksum")
    postgres = manifest.get("database") == "postgresql"
    for needed in ("gptu.pgdump",) if postgres else ("gptu.db", "lexical.db"):
        if needed not in manifest.get("parts", {}):
            raise DamagedBackup(f"the backup is damaged: its manifest does not list {needed}")
    return manifest


def present(settings: Settings, client: Any) -> list[str]:
    """What the target deployment already holds (empty when it may be restored into)."""
    held = []
    if settings.postgres:
        for table, what in (("documents", "documents"), ("lexical_chunks", "lexical chunks")):
            if rows := count_postgres(settings, table):
                held.append(f"{rows} {what} in Postgres")
    else:
        database = sqlite_path(settings)
        if database.exists() and count_rows(database, "documents"):
            held.append(f"{count_rows(database, 'documents')} documents in {database}")
        if settings.lexical_path.exists() and count_rows(settings.lexical_path, "chunks"):
            held.append(f"chunks in {settings.lexical_path}")
    chunks = sum(h.count() for h in gptu_collections(client))
    if chunks:
        held.append(f"{chunks} chunks in Chroma")
    return held


def count_rows(database: Path, table: str) -> int:
    """Rows of a table in an SQLite file (0 when the table does not exist)."""
    conn = sqlite3.connect(database)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def count_postgres(settings: Settings, table: str) -> int:
    """Rows of a table in the Postgres database (0 when the table does not exist)."""
    import psycopg

    with psycopg.connect(libpq_url(settings)) as conn:
        try:
            found = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        except psycopg.errors.UndefinedTable:
            return 0
    return int(found[0]) if found else 0


def restore_postgres(settings: Settings, dump: Path) -> None:
    """pg_restore the dump over the database (its gptu tables replaced), then queue again the
    documents that were being indexed when it was taken."""
    import psycopg

    run_postgres_tool("pg_restore", libpq_url(settings), "--clean", "--if-exists", "--no-owner",
                      "--single-transaction", str(dump))  # fmt: skip
    with psycopg.connect(libpq_url(settings)) as conn:
        conn.execute(
            "UPDATE documents SET status = 'queued', error = %s, enqueued_at = NULL"
            " WHERE status = 'processing'",
            (RESTORED,),
        )
        conn.execute("UPDATE documents SET enqueued_at = NULL WHERE status = 'queued'")


def restore_database(settings: Settings, source: Path) -> None:
    """Put the backup's SQL database and lexical index in place of the target's: Postgres in
    one transaction; SQLite once both copies are known readable, so a failure writes nothing."""
    if settings.postgres:
        restore_postgres(settings, source / "gptu.pgdump")
        return
    for name in ("gptu.db", "lexical.db"):
        check_sqlite(source / name)
    copy_sqlite(source / "gptu.db", sqlite_path(settings))
    copy_sqlite(source / "lexical.db", settings.lexical_path)


def check_sqlite(path: Path) -> None:
    """DamagedBackup unless path is an SQLite database that passes SQLite's quick check."""
    conn = sqlite3.connect(path)
    try:
        verdict = conn.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as exc:
        raise DamagedBackup(f"the backup is damaged: {path.name} cannot be read: {exc}") from exc
    finally:
        conn.close()
    if verdict != [("ok",)]:
        raise DamagedBackup(f"the backup is damaged: {path.name} fails SQLite's check: {verdict}")


def restore(
    settings: Settings,
    client: Any,
    source: Path,
    force: bool = False,
    progress: Callable[[str], None] = log.info,
) -> dict[str, Any]:
    """Restore a verified backup into an empty deployment (force: replace what is there).

    The API and workers of the target must be stopped while this runs.
    """
    manifest = verify(source)
    if (manifest.get("database") == "postgresql") != settings.postgres:
        raise Conflict(
            f"this backup is of a {manifest.get('database')} deployment; restore it into one "
            "with the same database (GPTU_DATABASE_URL)"
        )
    held = present(settings, client)
    if held and not force:
        raise Conflict(
            "the target is not empty (" + "; ".join(held) + "); restore into an empty data "
            "folder and Chroma, or pass --force to replace what is there"
        )
    restore_database(settings, source)  # first: when it fails, Chroma is still as it was
    progress(f"database and lexical index: {manifest['counts']['documents']} documents")
    with reachable():
        for handle in gptu_collections(client):
            client.delete_collection(handle.name)
    settings.files_dir.mkdir(parents=True, exist_ok=True)
    for name in manifest["parts"]:
        if name.startswith("files/"):
            shutil.copy2(source / name, settings.files_dir / Path(name).name)
    for part in manifest["chroma"]:
        load_collection(client, source, part)
    progress(f"vectors: {manifest['counts']['vector_chunks']} chunks")
    return manifest


def load_collection(client: Any, source: Path, part: dict[str, Any]) -> None:
    """Re-create one Chroma collection and upsert its chunks in batches."""
    vectors = np.load(source / part["embeddings"], mmap_mode="r")
    with reachable():
        handle = client.create_collection(
            part["name"], metadata=part["metadata"], embedding_function=None
        )
    with (source / part["records"]).open() as rows:
        for start, group in enumerate_batches(rows):
            with reachable():
                handle.upsert(
                    ids=[r["id"] for r in group],
                    embeddings=np.asarray(vectors[start : start + len(group)]),
                    documents=[r["text"] for r in group],
                    metadatas=[r["meta"] for r in group],
                )
    with reachable():
        stored = handle.count()
    if stored != part["count"]:
        raise DamagedBackup(f"{part['name']}: {stored} chunks restored, {part['count']} expected")


def enumerate_batches(rows: IO[str]) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """JSONL records in groups of CHROMA_BATCH, each with the index of its first row."""
    group: list[dict[str, Any]] = []
    start = 0
    for line in rows:
        group.append(json.loads(line))
        if len(group) == CHROMA_BATCH:
            yield start, group
            start, group = start + len(group), []
    if group:
        yield start, group
