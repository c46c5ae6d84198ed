"""The SQL schema's version: Alembic's revisions (core/migrations) bring a database to this
gptu's head; a process refuses to start on an older one (README "Migrations")."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, Table, inspect, text
from sqlalchemy.engine import Connection, Engine

from core.errors import SchemaOutdated

SCRIPTS = Path(__file__).resolve().parent / "migrations"
OWN_TABLES = frozenset({"lexical_chunks"})  # the Postgres lexical index's own (app/lexical.py)
POSTGRES_LOCK = 4748  # pg_advisory_xact_lock key: one migrating process at a time
FIRST = "0001"
BEFORE_ALEMBIC = "from a release before migrations"


def include_object(obj: Any, name: str | None, type_: str, *_: Any) -> bool:
    """Alembic leaves alone the tables that are not the models' (and their indexes)."""
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
    return table not in OWN_TABLES


def config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, without an ini file: the scripts and the connection to use."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    cfg.attributes["connection"] = connection
    return cfg


@cache
def head() -> str:
    """The newest revision, the one this gptu needs."""
    found = ScriptDirectory.from_config(config()).get_current_head()
    assert found is not None, "core/migrations/versions holds no revision"
    return found


def current(conn: Connection) -> str | None:
    """The revision the database is at; None before Alembic (or when empty)."""
    return MigrationContext.configure(conn).get_current_revision()


def revision(engine: Engine) -> str | None:
    """The revision the database at engine is at; None before Alembic (or when empty)."""
    with engine.connect() as conn:
        return current(conn)


def has_tables(conn: Connection) -> bool:
    """Whether any of gptu's tables are there (a database made before Alembic, when unversioned)."""
    return bool(set(inspect(conn).get_table_names()) & set(release_tables().tables))


def release_tables() -> MetaData:
    """The MetaData of revision 0001."""
    from core.migrations.versions.r0001_release import release_tables as tables

    return tables()


def outdated(at: str | None) -> SchemaOutdated:
    """The error that says what to do about a database at another revision."""
    if at is not None and at not in known():
        return SchemaOutdated(
            f"the database schema is at {at}, newer than this gptu knows ({head()}): "
            "run the gptu release that migrated it"
        )
    where = f"at {at}" if at else BEFORE_ALEMBIC
    return SchemaOutdated(
        f"the database schema is {where}, this gptu needs {head()}: stop the API and "
        "workers, back up (`gptu backup DIR`), then run `gptu migrate`"
    )


@cache
def known() -> frozenset[str]:
    """Every revision in core/migrations/versions."""
    scripts = ScriptDirectory.from_config(config())
    return frozenset(s.revision for s in scripts.walk_revisions())


def check(engine: Engine) -> None:
    """Raise SchemaOutdated unless the database is at this gptu's head."""
    at = revision(engine)
    if at != head():
        raise outdated(at)


def prepare(engine: Engine) -> None:
    """What a process does as it opens the database: an empty one is brought to head (zero
    setup), one at head is used, any other is refused with what to do."""
    with engine.connect() as conn:
        at, filled = current(conn), has_tables(conn)
    if at == head():
        return
    if at is None and not filled:
        upgrade(engine, adopt=False)
        return
    raise outdated(at)


class Upgrade(NamedTuple):
    """What `upgrade` did: the revision before (None: empty, or made before Alembic), after."""

    before: str | None
    after: str
    adopted: bool  # made before Alembic: brought to 0001 and stamped first


def upgrade(engine: Engine, adopt: bool = True) -> Upgrade:
    """Bring the database to head; running it again changes nothing.

    A database made before Alembic (tables, no version) is first brought to exactly 0001
    (missing tables and nullable columns added) and stamped 0001, when `adopt`.
    """
    with migrating(engine) as conn:
        before = current(conn)
        adopted = before is None and has_tables(conn)
        if adopted:
            if not adopt:
                raise outdated(None)
            complete_release(conn)
            command.stamp(config(conn), FIRST)
        elif before is not None and before not in known():
            raise outdated(before)
        command.upgrade(config(conn), "head")
    return Upgrade(before, head(), adopted)


def complete_release(conn: Connection) -> None:
    """Add what revision 0001 has and an older database lacks: tables, nullable columns and
    their indexes (what `add_missing_columns` did before Alembic)."""
    tables = release_tables()
    tables.create_all(conn, checkfirst=True)
    inspector = inspect(conn)
    for table in tables.sorted_tables:
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in present and column.nullable and not column.primary_key:
                add_column(conn, table, column)


def add_column(conn: Connection, table: Table, column: Any) -> None:
    """Add a nullable column and the indexes it belongs to."""
    kind = column.type.compile(conn.dialect)
    conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}")
    for index in table.indexes:
        if column.name in index.columns:
            index.create(conn)


@contextmanager
def migrating(engine: Engine) -> Iterator[Connection]:
    """One connection in one transaction that only one process at a time holds; SQLite's
    foreign keys are off meanwhile, so a table copied by a batch alter keeps its dependants."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": POSTGRES_LOCK})
            yield conn
            conn.commit()
        return
    with file_lock(engine), engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.commit()
        finally:
            conn.rollback()
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            conn.commit()


@contextmanager
def file_lock(engine: Engine) -> Iterator[None]:
    """An exclusive lock beside a SQLite file, held while its schema changes."""
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
