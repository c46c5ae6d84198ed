"""An older database upgraded in place: user id columns are filled once from names, never later."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect

from core.db import NAMED_BY, Base, Collection, Database, Document, User
from core.records import Feedback, Trace

NAMED = [(t.name, c.name) for t in Base.metadata.sorted_tables for c in t.columns
         if NAMED_BY in c.info]  # fmt: skip


def older_database(path: Path) -> str:
    """A database as the version before user ids left it: rows of alice and of a deleted user."""
    url = f"sqlite:///{path}"
    db = Database(url)
    with db.session() as session:
        session.add(User(id="u1", name="alice"))
        for n, name in enumerate(("alice", "gone")):
            session.add(Collection(id=f"c{n}", name=f"c{n}", embedder="e", owner=name))
            session.add(Document(id=f"d{n}", collection_id=f"c{n}", filename="f", sha256="x",
                                 size=1, uploaded_by=name))  # fmt: skip
            session.add(Trace(id=f"t{n}", user_name=name, surface="chat", question="q"))
            session.flush()
            session.add(Feedback(trace_id=f"t{n}", user_name=name, rating=1))
    with db.engine.begin() as conn:
        for table, column in NAMED:
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS ix_{table}_{column}")
            conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {column}")
    db.engine.dispose()
    return url


def ids(db: Database) -> dict[str, set[str | None]]:
    """Each user id column's values, by table."""
    with db.engine.connect() as conn:
        return {table: {row[0] for row in conn.exec_driver_sql(f"SELECT {column} FROM {table}")}
                for table, column in NAMED}  # fmt: skip


def test_user_ids_are_filled_from_names_once_as_the_columns_are_added(tmp_path: Path) -> None:
    assert {t for t, _ in NAMED} == {"collections", "documents", "traces", "feedback"}
    url = older_database(tmp_path / "old.db")
    db = Database(url)
    assert ids(db) == {table: {"u1", None} for table, _ in NAMED}
    assert "ix_traces_user_id" in {i["name"] for i in inspect(db.engine).get_indexes("traces")}
    with db.session() as session:
        session.add(User(id="u2", name="gone"))  # a namesake of the deleted user
    db.engine.dispose()
    assert ids(Database(url)) == {table: {"u1", None} for table, _ in NAMED}  # after a restart
