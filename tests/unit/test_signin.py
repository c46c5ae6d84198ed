"""Passwords, sessions and one-time links on a real SQLite database."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from core.db import Database, User, WebSession, utcnow
from core.errors import InvalidRequest, Unauthorized
from core.signin import (
    WRONG,
    create_link,
    redeem_link,
    resolve_session,
    set_password,
    start_session,
    verify_password,
)


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'gptu.db'}")
    with database.session() as session:
        session.add(User(name="ana"))
    return database


def ana(session: object) -> User:
    """The test's user."""
    found = session.scalar(select(User).where(User.name == "ana"))  # type: ignore[attr-defined]
    assert found is not None
    return found


def test_a_password_is_stored_as_an_argon2id_hash_and_checked(db: Database) -> None:
    with db.session() as session:
        set_password(session, ana(session), "river stone lamp", "admin")
    with db.session() as session:
        stored = ana(session).password_hash or ""
        assert stored.startswith("$argon2id$") and "river" not in stored
        assert verify_password(session, " ANA ", "river stone lamp").name == "ana"
        for name, password in (("ana", "river stone lam"), ("nobody", "river stone lamp")):
            with pytest.raises(Unauthorized, match=WRONG):
                verify_password(session, name, password)
        with pytest.raises(InvalidRequest):
            set_password(session, ana(session), "short", "admin")


def test_a_new_password_ends_every_session_and_an_old_session_ends_on_its_own(
    db: Database,
) -> None:
    with db.session() as session:
        first = start_session(session, ana(session), "password", max_hours=1)
        second = start_session(session, ana(session), "password", max_hours=1)
    with db.session() as session:
        assert resolve_session(session, first.token, idle_minutes=60).caller.name == "ana"
        set_password(session, ana(session), "a new long password", "ana")
    with db.session() as session, pytest.raises(Unauthorized):
        resolve_session(session, first.token, idle_minutes=60)
    with db.session() as session:
        third = start_session(session, ana(session), "password", max_hours=1)
        row = session.scalars(select(WebSession)).one()
        row.expires_at = utcnow() - timedelta(seconds=1)  # its absolute end has passed
    with db.session() as session, pytest.raises(Unauthorized, match="ended"):
        resolve_session(session, third.token, idle_minutes=60)
    with db.session() as session:
        assert session.scalars(select(WebSession)).all() == []  # the ended row is gone
    assert second.token != first.token


def test_a_link_works_once_and_not_after_it_expires(db: Database) -> None:
    with db.session() as session:
        token, _ = create_link(session, ana(session), "admin", hours=1)
        stale, _ = create_link(session, ana(session), "admin", hours=1)  # replaces the first
    with db.session() as session, pytest.raises(Unauthorized):
        redeem_link(session, token, "a long passphrase")
    with db.session() as session:
        assert redeem_link(session, stale, "a long passphrase").name == "ana"
    with db.session() as session, pytest.raises(Unauthorized):
        redeem_link(session, stale, "another passphrase")
    with db.session() as session:
        late, _ = create_link(session, ana(session), "admin", hours=-1)
    with db.session() as session, pytest.raises(Unauthorized, match="expired"):
        redeem_link(session, late, "a long passphrase")
