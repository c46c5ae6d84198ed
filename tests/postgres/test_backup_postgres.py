"""Backup and restore of a deployment whose SQL and lexical index live in Postgres."""

from __future__ import annotations

import os
import traceback
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import select

from app.backup import backup, gptu_collections, libpq_url
from app.doctor import Doctor
from app.intake import Intake
from app.restore import restore
from app.services import chroma_client
from cli.localstack import free_port
from cli.postgres import Postgres, start_postgres
from core.db import Document
from core.errors import Conflict, GptuError
from core.settings import Settings
from core.tools import postgres_tool
from tests.isolated.test_operate import add_documents, deployment, found, redis_url
from worker.celery_app import make_celery

__all__ = ["redis_url"]  # the module's Redis fixture, shared


def test_a_postgres_deployment_restores_into_an_empty_one_with_identical_search(
    tmp_path: Path, redis_url: str
) -> None:
    queries = ["When does the Zorblat office open?", "where do visitors park", "train tickets"]
    source_db = start_postgres(tmp_path / "source-pg", free_port())
    target_db = start_postgres(tmp_path / "target-pg", free_port())
    try:
        with deployment(tmp_path, "source", redis_url, source_db.url) as (settings, services):
            intake = Intake(services, make_celery(settings))
            add_documents(services, intake, ["hours.md", "parking.md", "travel.md"])
            before = [found(services, q) for q in queries]
            manifest = backup(settings, chroma_client(settings), tmp_path / "backup")
        assert manifest["database"] == "postgresql" and "gptu.pgdump" in manifest["parts"]
        assert manifest["counts"]["documents"] == 3 == manifest["counts"]["lexical_chunks"]
        with deployment(tmp_path, "target", redis_url, target_db.url) as (target, restored):
            restore(target, chroma_client(target), tmp_path / "backup")
            assert [found(restored, q) for q in queries] == before and all(before)
            assert Doctor(restored).run().problems() == 0
            with pytest.raises(Conflict, match="not empty"):
                restore(target, chroma_client(target), tmp_path / "backup")
        with (
            deployment(tmp_path, "sqlite", redis_url) as (other, _),
            pytest.raises(Conflict, match="postgresql deployment"),
        ):
            restore(other, chroma_client(other), tmp_path / "backup")
    finally:
        source_db.close()
        target_db.close()


PASSWORD = "Zq9-hush:p@ss/w%rd"  # characters a URL must escape; "Zq9-hush" in either form
SECRET = "Zq9-hush"


def guarded_cluster(folder: Path, limit: int = -1) -> Postgres:
    """A cluster whose role `keeper` must give PASSWORD (scram over TCP) and owns the databases
    `source` and `target`; limit caps keeper's connections (-1: no cap)."""
    cluster = start_postgres(folder, free_port())
    hba = cluster.data / "pg_hba.conf"
    hba.write_text("host all keeper 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
    cluster.ctl("reload")
    with psycopg.connect(
        f"host=127.0.0.1 port={cluster.port} user=gptu dbname=postgres", autocommit=True
    ) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE keeper LOGIN CONNECTION LIMIT {} PASSWORD {}").format(
                sql.Literal(limit), sql.Literal(PASSWORD)
            )
        )
        for name in ("source", "target"):
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER keeper").format(sql.Identifier(name)))
    return cluster


def keeper_url(cluster: Postgres, database: str) -> str:
    """The URL of one of the guarded cluster's databases, with keeper's password in it."""
    return f"postgresql://keeper:{quote(PASSWORD, safe='')}@127.0.0.1:{cluster.port}/{database}"


def logging_tools(folder: Path) -> Path:
    """pg_dump and pg_restore that write the command line they were given to folder/argv.log,
    then run the real program: put folder first on PATH."""
    folder.mkdir()
    for name in ("pg_dump", "pg_restore"):
        tool = folder / name
        tool.write_text(
            f"#!/bin/sh\nprintf '%s\\n' \"$0 $*\" >> {folder / 'argv.log'}\n"
            f'exec {postgres_tool(name)} "$@"\n'
        )
        tool.chmod(0o755)
    return folder / "argv.log"


def test_pg_dump_and_pg_restore_get_the_password_but_never_on_their_command_line(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    queries = ["When does the Zorblat office open?", "where do visitors park"]
    log = logging_tools(tmp_path / "tools")
    monkeypatch.setenv("PATH", f"{log.parent}{os.pathsep}{os.environ['PATH']}")
    cluster = guarded_cluster(tmp_path / "pg")
    try:
        with deployment(tmp_path, "source", redis_url, keeper_url(cluster, "source")) as (
            settings,
            services,
        ):
            add_documents(
                services, Intake(services, make_celery(settings)), ["hours.md", "parking.md"]
            )
            before = [found(services, q) for q in queries]
            backup(settings, chroma_client(settings), tmp_path / "backup")
        with deployment(tmp_path, "target", redis_url, keeper_url(cluster, "target")) as (
            target,
            restored,
        ):
            restore(target, chroma_client(target), tmp_path / "backup")
            assert [found(restored, q) for q in queries] == before and all(before)
    finally:
        cluster.close()
    argv = log.read_text().splitlines()
    assert [Path(line.split()[0]).name for line in argv] == ["pg_dump", "pg_restore"]
    assert all("user=keeper" in line for line in argv), argv
    assert not [line for line in argv if SECRET in line]


def test_a_failing_pg_dump_reports_its_own_error_but_never_the_password(tmp_path: Path) -> None:
    cluster = guarded_cluster(tmp_path / "pg", limit=1)  # backup's own session takes the one
    settings = Settings(data_dir=tmp_path / "data", database_url=keeper_url(cluster, "source"))
    try:
        with pytest.raises(GptuError, match="too many connections for role") as failed:
            backup(settings, None, tmp_path / "backup")
    finally:
        cluster.close()
    assert "pg_dump" in failed.value.message
    assert SECRET not in "".join(traceback.format_exception(failed.value))


def test_a_failing_pg_restore_leaves_the_target_database_and_chroma_as_they_were(
    tmp_path: Path, redis_url: str
) -> None:
    cluster = guarded_cluster(tmp_path / "pg")
    try:
        with deployment(tmp_path, "source", redis_url, keeper_url(cluster, "source")) as (
            settings,
            services,
        ):
            add_documents(services, Intake(services, make_celery(settings)), ["hours.md"])
            backup(settings, chroma_client(settings), tmp_path / "backup")
        with deployment(tmp_path, "target", redis_url, keeper_url(cluster, "target")) as (
            target,
            held,
        ):
            ids = add_documents(held, Intake(held, make_celery(target)), ["lunch.md"])
            before = found(held, "canteen soup")
            chroma = [(h.name, h.count()) for h in gptu_collections(chroma_client(target))]
            with psycopg.connect(libpq_url(target)) as conn:  # pg_restore --clean cannot drop
                conn.execute("CREATE VIEW kept AS SELECT id FROM documents")  # documents now
            with pytest.raises(GptuError, match="other objects depend on it") as failed:
                restore(target, chroma_client(target), tmp_path / "backup", force=True)
            assert SECRET not in "".join(traceback.format_exception(failed.value))
            assert before == [f"{ids['lunch.md']}:0"] == found(held, "canteen soup")
            assert [(h.name, h.count()) for h in gptu_collections(chroma_client(target))] == (
                chroma
            ) and chroma
            with held.db.session() as session:
                assert [d.filename for d in session.scalars(select(Document))] == ["lunch.md"]
    finally:
        cluster.close()
