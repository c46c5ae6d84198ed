"""Migrations: a database of the release before Alembic is refused, then upgraded in place (user
ids filled once from names); keys labelled by their first characters get random labels; a new
one starts at head; the models and the revisions agree."""

from __future__ import annotations

import secrets
import sqlite3
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import alembic.command
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

import core.records  # noqa: F401  (the trace, feedback and Slack tables)
from cli.localstack import GPTU, ROOT
from cli.main import cli
from core import accounts, schema
from core.db import ApiKey, AuditEvent, Base, Database, User
from core.errors import SchemaOutdated
from core.records import Conversation, ConversationTurn
from tests.unit.test_keys import LABEL, leaked, stored_text

RELEASE = ROOT / "tests" / "fixtures" / "release-0001.sqlite.sql"
NAMED = {"collections": "owner_id", "documents": "uploaded_by_id", "traces": "user_id",
         "feedback": "user_id"}  # fmt: skip
FILLED = {
    "collections": {"c-ops": "u-alice", "c-old": None},
    "documents": {"d-ops": "u-alice", "d-old": None},
    "traces": {"t-alice": "u-alice", "t-gone": None},
    "feedback": {"f-alice": "u-alice", "f-gone": None},
}  # alice exists; "gone" was deleted before the upgrade


def release_database(folder: Path) -> str:
    """The previous release's database (tests/fixtures), as `gptu.db` in folder."""
    with sqlite3.connect(folder / "gptu.db") as conn:
        conn.executescript(RELEASE.read_text())
    return f"sqlite:///{folder / 'gptu.db'}"


def user_ids(engine: Engine) -> dict[str, dict[str, str | None]]:
    """Each user id column's value, by table and row id."""
    with engine.connect() as conn:
        return {
            table: dict(conn.exec_driver_sql(f"SELECT id, {column} FROM {table}").all())
            for table, column in NAMED.items()
        }


def differences(engine: Engine) -> list[object]:
    """What Alembic's autogenerate finds between the database and the models."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": schema.include_object})
        return list(compare_metadata(context, Base.metadata))


def conversations_go_with_their_user(db: Database) -> None:
    """Deleting a user deletes their conversations, and those their turns (foreign keys)."""
    with db.session() as session:
        session.add(User(id="u-talker", name="talker"))
        session.flush()
        session.add(Conversation(id="c-talk", user_id="u-talker", title="Lunch?"))
        session.flush()
        session.add(ConversationTurn(conversation_id="c-talk", question="Lunch?", answer="At 12."))
    with db.session() as session:
        session.delete(session.get(User, "u-talker"))
    with db.engine.connect() as conn:
        for table in ("conversations", "conversation_turns"):
            assert conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() == 0


def keys_at_0004(engine: Engine) -> dict[str, str]:
    """An empty database brought to 0004 with keys as 0004 stored them: labelled by their first
    12 characters, named so in the audit log (one key since deleted); the keys, by id."""
    with schema.migrating(engine) as conn:
        alembic.command.upgrade(schema.config(conn), "0004")
    keys = {k: accounts.KEY_PREFIX + secrets.token_urlsafe(32) for k in ("live", "old", "gone")}
    at = datetime(2026, 11, 20, 10, tzinfo=UTC)
    rows = [
        {"id": k, "user_id": "u-kim", "digest": accounts.digest(keys[k]), "prefix": keys[k][:12],
         "created_at": at, "revoked_at": at if k == "old" else None}
        for k in ("live", "old")
    ]  # fmt: skip
    events: list[tuple[str, str, dict[str, object]]] = [("user.create", "kim", {"groups": []})]
    events += [("key.create", "kim", {"key_id": k, "prefix": key[:12]}) for k, key in keys.items()]
    events += [("key.revoke", "old", {"user": "kim", "prefix": keys["old"][:12]})]
    with engine.begin() as conn:
        conn.execute(insert(User), [{"id": "u-kim", "name": "kim", "created_at": at}])
        conn.execute(insert(ApiKey), rows)
        conn.execute(insert(AuditEvent), [
            {"at": at, "actor": "admin", "action": action, "target": target, "detail": detail}
            for action, target, detail in events
        ])  # fmt: skip
    return keys


def labelled_anew(engine: Engine, keys: dict[str, str]) -> None:
    """Nothing stored holds a piece of a key; each audit entry names its key's new label (or
    none, its key gone); the keys still work."""
    text = stored_text(engine)
    assert [leaked(key, text) for key in keys.values()] == [set()] * len(keys)
    with Session(engine) as session:
        label = dict(session.execute(select(ApiKey.id, ApiKey.prefix)).tuples().all())
        audit = session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        events = [(e.action, e.target, e.detail) for e in audit]
        assert accounts.authenticate(session, keys["live"]).user_id == "u-kim"
    assert len(set(label.values())) == 2 and all(LABEL.fullmatch(v) for v in label.values())
    assert events == [
        ("user.create", "kim", {"groups": []}),
        ("key.create", "kim", {"key_id": "live", "prefix": label["live"]}),
        ("key.create", "kim", {"key_id": "old", "prefix": label["old"]}),
        ("key.create", "kim", {"key_id": "gone"}),
        ("key.revoke", "old", {"user": "kim", "prefix": label["old"]}),
    ]


def migrate(folder: Path) -> str:
    """`gptu migrate` on the SQLite database in folder; its output."""
    env = {"GPTU_DATA_DIR": str(folder), "GPTU_DATABASE_URL": ""}
    done = CliRunner().invoke(cli, ["migrate"], env=env)
    assert done.exit_code == 0, done.output
    return done.output


def test_the_previous_release_is_refused_then_migrated_once(tmp_path: Path) -> None:
    url = release_database(tmp_path)
    with pytest.raises(
        SchemaOutdated, match=rf"before migrations, this gptu needs {schema.head()}: .*backup"
    ):
        Database(url)
    assert f"from a release before migrations → {schema.head()}" in migrate(tmp_path)
    db = Database(url)
    assert schema.revision(db.engine) == schema.head() == "0008"
    assert user_ids(db.engine) == FILLED
    indexes = {i["name"] for t in NAMED for i in inspect(db.engine).get_indexes(t)}
    assert {"ix_traces_user_id", "ix_documents_uploaded_by_id"} <= indexes
    with db.session() as session:
        session.add(User(id="u-new", name="gone"))  # a namesake of the deleted user
    with db.engine.connect() as conn:  # nothing lost, cascades included
        assert conn.exec_driver_sql("SELECT count(*) FROM slack_notices").scalar() == 1
    assert differences(db.engine) == []
    db.engine.dispose()
    assert f"already at {schema.head()}; nothing to do" in migrate(tmp_path)
    assert user_ids(Database(url).engine) == FILLED  # the namesake got nothing
    conversations_go_with_their_user(Database(url))


def test_an_older_database_is_completed_to_the_release_first(tmp_path: Path) -> None:
    url = release_database(tmp_path)
    with sqlite3.connect(tmp_path / "gptu.db") as conn:  # as a release before cd61e2a left it
        conn.executescript("DROP INDEX ix_documents_uploaded_by; ALTER TABLE documents DROP "
                           "COLUMN uploaded_by; DROP TABLE slack_notices;")  # fmt: skip
    migrate(tmp_path)
    engine = Database(url).engine
    assert user_ids(engine)["documents"] == {"d-ops": None, "d-old": None}  # no names to go by
    assert differences(engine) == []


def test_keys_labelled_by_their_first_characters_get_random_labels(tmp_path: Path) -> None:
    engine = Database(f"sqlite:///{tmp_path / 'gptu.db'}", check=False).engine
    keys = keys_at_0004(engine)
    assert leaked(keys["live"], stored_text(engine))  # what 0004 kept
    migrate(tmp_path)
    labelled_anew(engine, keys)


def test_a_new_database_starts_at_head_even_when_processes_race(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gptu.db'}"
    with ThreadPoolExecutor(4) as pool:
        engines = [db.engine for db in pool.map(lambda _: Database(url), range(4))]
    assert {schema.revision(e) for e in engines} == {schema.head()}
    assert differences(engines[0]) == []


def test_the_api_and_worker_refuse_an_older_schema(tmp_path: Path) -> None:
    release_database(tmp_path)
    env = {"PATH": "/usr/bin:/bin", "GPTU_DATA_DIR": str(tmp_path)}
    for command in ("serve", "worker"):
        done = subprocess.run([*GPTU, command], env=env, cwd=ROOT, capture_output=True,
                              text=True, timeout=60)  # fmt: skip
        assert done.returncode == 1, (command, done.stderr)
        assert f"this gptu needs {schema.head()}" in done.stderr and "gptu migrate" in done.stderr
