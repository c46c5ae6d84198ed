"""Migrations on Postgres: the previous release's database is refused, then upgraded in place
once (user ids filled from names), the lexical index's own table untouched; keys labelled by
their first characters get random labels; a new database starts at head. A private cluster
(cli/postgres.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import inspect
from typer.testing import CliRunner

from app.lexical import PostgresLexicalIndex
from cli.localstack import ROOT, free_port
from cli.main import cli
from cli.postgres import Postgres, start_postgres
from core import schema
from core.db import Database
from core.errors import SchemaOutdated
from core.settings import Settings
from tests.unit.test_db import (
    FILLED,
    NAMED,
    conversations_go_with_their_user,
    differences,
    keys_at_0004,
    labelled_anew,
    user_ids,
)

RELEASE = ROOT / "tests" / "fixtures" / "release-0001.postgresql.sql"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    pg = start_postgres(tmp_path_factory.mktemp("postgres") / "cluster", free_port())
    try:
        yield pg
    finally:
        pg.close()


def sqlalchemy_url(url: str) -> str:
    """The URL as gptu's settings pass it to SQLAlchemy (psycopg 3)."""
    return Settings(database_url=url).sqlalchemy_url


def migrate(url: str, folder: Path) -> str:
    """`gptu migrate` on the database at url; its output."""
    done = CliRunner().invoke(cli, ["migrate"], env={"GPTU_DATABASE_URL": url,
                                                     "GPTU_DATA_DIR": str(folder)})  # fmt: skip
    assert done.exit_code == 0, done.output
    return done.output


def test_the_previous_release_is_refused_then_migrated_once(
    cluster: Postgres, tmp_path: Path
) -> None:
    with psycopg.connect(cluster.url) as conn:
        conn.execute(RELEASE.read_text().encode())
    url = sqlalchemy_url(cluster.url)
    index = PostgresLexicalIndex(Database(url, check=False).engine)  # made at run time, not by us
    with pytest.raises(
        SchemaOutdated, match=rf"before migrations, this gptu needs {schema.head()}"
    ):
        Database(url)
    assert f"from a release before migrations → {schema.head()}" in migrate(cluster.url, tmp_path)
    db = Database(url)
    assert user_ids(db.engine) == FILLED
    indexes = {i["name"] for t in NAMED for i in inspect(db.engine).get_indexes(t)}
    assert {"ix_traces_user_id", "ix_documents_uploaded_by_id"} <= indexes
    assert differences(db.engine) == []
    assert f"already at {schema.head()}; nothing to do" in migrate(cluster.url, tmp_path)
    assert "lexical_chunks" in inspect(index.engine).get_table_names()
    conversations_go_with_their_user(db)
    with db.engine.connect() as conn:  # the release's serial goes on after its rows
        conn.exec_driver_sql("INSERT INTO audit (at, actor, action, target, detail) VALUES "
                             "(now(), 'cli', 'x', 'y', '{}')")  # fmt: skip
        conn.commit()
    db.engine.dispose()
    index.engine.dispose()


def test_keys_labelled_by_their_first_characters_get_random_labels(
    cluster: Postgres, tmp_path: Path
) -> None:
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute("CREATE DATABASE labels")
    url = cluster.url.rsplit("/", 1)[0] + "/labels"
    engine = Database(sqlalchemy_url(url), check=False).engine
    keys = keys_at_0004(engine)
    assert f"0004 → {schema.head()}" in migrate(url, tmp_path)
    labelled_anew(engine, keys)
    engine.dispose()


def test_a_new_database_starts_at_head(cluster: Postgres) -> None:
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute("CREATE DATABASE fresh")
    url = sqlalchemy_url(cluster.url.rsplit("/", 1)[0] + "/fresh")
    engine = Database(url).engine
    assert schema.revision(engine) == schema.head() and differences(engine) == []
    engine.dispose()


def test_a_sql_ascii_database_is_set_up_and_reads_text_as_text(cluster: Postgres) -> None:
    # A cluster initdb'd under the POSIX locale makes SQL_ASCII databases: psycopg handed back
    # bytes and every connect failed ("cannot use a string pattern on a bytes-like object").
    server = cluster.url.rsplit("/", 1)[0]
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute("CREATE DATABASE ascii ENCODING 'SQL_ASCII' TEMPLATE template0")
    db = Database(sqlalchemy_url(f"{server}/ascii"))
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW server_encoding").scalar() == "SQL_ASCII"
        text = "Zürich: 10 000 €"
        assert conn.exec_driver_sql(f"SELECT '{text}'::text").scalar() == text
        assert schema.current(conn) == schema.head()
    db.engine.dispose()
