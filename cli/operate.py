"""Operating commands: `gptu doctor`, `gptu backup`, `gptu restore`, `gptu migrate` (run them
on the server)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from core.errors import GptuError
from core.offline import go_offline
from core.settings import Settings
from core.waiting import database_name, wait_for

LINES = (
    ("orphan_vector_chunks", "chunks in Chroma whose document is gone"),
    ("orphan_lexical_chunks", "chunks in the lexical index whose document is gone"),
    ("orphan_files", "stored files no document names"),
    ("incomplete_documents", "ready documents whose chunks are missing or partial"),
    ("missing_files", "ready documents whose stored file is gone"),
)
DONE = (
    ("removed_vector_chunks", "chunks removed from Chroma"),
    ("removed_lexical_chunks", "chunks removed from the lexical index"),
    ("removed_files", "stored files removed"),
    ("requeued", "documents sent to be indexed again"),
    ("failed", "documents marked failed (their file is gone too)"),
)


def doctor(
    fix: Annotated[bool, typer.Option(help="Remove orphans and re-index what is missing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check that SQL, Chroma, the lexical index and the stored files agree; --fix mends them.
    Exits 1 when a report without --fix finds something."""
    from app.doctor import Doctor
    from app.intake import Intake
    from app.services import build_services
    from worker.celery_app import make_celery

    settings = Settings()
    go_offline()
    services = build_services(settings)
    report = Doctor(services, Intake(services, make_celery(settings))).run(fix=fix)
    if as_json:
        print(json.dumps(report.as_dict(), indent=1))
    else:
        for key, label in LINES + (DONE if fix else ()):
            print(f"{getattr(report, key):8d}  {label}")
        if report.missing_files:
            print(
                "Documents whose file is gone stay searchable if their chunks are whole; "
                "upload the file again to be able to re-index them."
            )
    if report.problems() and not fix:
        raise typer.Exit(1)


def backup(
    folder: Annotated[Path, typer.Argument(help="A new or empty folder for the backup.")],
) -> None:
    """Back up the database, vectors, lexical index and stored files into FOLDER, while the
    service runs (see README "Backup and restore" for what the copy guarantees)."""
    from app.backup import backup as run_backup
    from app.services import chroma_client

    settings = Settings()
    go_offline()
    try:
        manifest = run_backup(settings, chroma_client(settings), folder, progress=print)
    except GptuError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        raise typer.Exit(1) from exc
    counts = manifest["counts"]
    print(
        f"backup in {folder}: {counts['documents']} documents, {counts['vector_chunks']} "
        f"chunks, {counts['files']} files ({counts['files_missing']} already missing)"
    )


def restore(
    folder: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="A backup.")],
    force: Annotated[bool, typer.Option(help="Replace what the target already holds.")] = False,
) -> None:
    """Restore a backup into this deployment's data folder and Chroma, after checking every
    part. Stop the API and workers first; start them again afterwards."""
    from app.restore import restore as run_restore
    from app.services import chroma_client

    settings = Settings()
    go_offline()
    try:
        manifest = run_restore(settings, chroma_client(settings), folder, force, progress=print)
    except GptuError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        raise typer.Exit(1) from exc
    print(
        f"restored the backup of {manifest['created_at']}; start the API and workers: "
        "documents that were queued or being indexed are sent to the workers again"
    )


def migrate() -> None:
    """Bring the database's schema to this gptu's (README "Migrations"): stop the API and
    workers and back up first. Running it again does nothing."""
    from core import schema
    from core.db import Database

    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.sqlalchemy_url, check=False)
    try:  # the database may still be starting (compose starts this beside it)
        wait_for(database_name(settings.sqlalchemy_url), db.ping, settings.start_timeout)
        done = schema.upgrade(db.engine)
    except GptuError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        raise typer.Exit(1) from exc
    finally:
        db.engine.dispose()
    if done.before == done.after:
        print(f"database schema already at {done.after}; nothing to do")
        return
    before = done.before or (schema.BEFORE_ALEMBIC if done.adopted else "empty")
    print(f"database schema {before} → {done.after}")


def require_schema(settings: Settings) -> None:
    """Exit 1, saying what to do, when the database's schema is not this gptu's (an empty
    database is set up instead): `gptu serve` refuses to start on an older one."""
    from core.db import Database

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.sqlalchemy_url
    try:  # an empty database is set up; one still starting is waited for
        wait_for(database_name(url), lambda: Database(url).engine.dispose(), settings.start_timeout)
    except GptuError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        raise typer.Exit(1) from exc
