"""What is stored of an API key: its sha256 and a random public label, never any of its own
characters (README "People and permissions"): generated keys, a chosen GPTU_ADMIN_TOKEN and the
audit entries that name them alike. Real SQLite."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from core import accounts
from core.db import ApiKey, AuditEvent, Database

CHOSEN = "Tr0ub4dor&3-horse"  # a GPTU_ADMIN_TOKEN of the 16+ characters the README asks for
LABEL = re.compile(r"gptu_[A-Za-z0-9_-]{11}")


def fragments(key: str) -> set[str]:
    """Every piece of the key one character longer than the public `gptu_` mark keys begin with:
    a stored one would leave an offline search against the sha256 fewer characters to find."""
    secret = key.removeprefix(accounts.KEY_PREFIX)
    size = len(accounts.KEY_PREFIX) + 1
    return {secret[i : i + size] for i in range(len(secret) - size + 1)}


def leaked(key: str, text: str) -> set[str]:
    """The pieces of the key found in text."""
    return {piece for piece in fragments(key) if piece in text}


def stored_text(engine: Engine) -> str:
    """Every value of every row of every table, as text (what a backup keeps)."""
    lines = []
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.exec_driver_sql(f"SELECT * FROM {table}"):
                lines.append(json.dumps([str(v) for v in row]))
    return "\n".join(lines)


def test_a_chosen_admin_token_leaves_none_of_its_characters_stored(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'gptu.db'}")
    with db.session() as session:
        assert accounts.bootstrap_admin(session, CHOSEN) is None
    again = CHOSEN[::-1] + "-later"  # set later to recover access: a key of the first admin
    with db.session() as session:
        accounts.ensure_admin(session, again)
    with db.session() as session:
        assert accounts.authenticate(session, CHOSEN).admin
        assert accounts.authenticate(session, again).admin
        labels = [k.prefix for k in session.query(ApiKey)]
    text = stored_text(db.engine)
    assert leaked(CHOSEN, text) == set() and leaked(again, text) == set()
    assert len(labels) == 2 and all(LABEL.fullmatch(label) for label in labels)


def test_generated_keys_and_their_audit_entries_hold_no_piece_of_the_key(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'gptu.db'}")
    with db.session() as session:
        printed = accounts.bootstrap_admin(session, "")
    assert printed is not None and printed.startswith(accounts.KEY_PREFIX)
    with db.session() as session:
        user = accounts.create_user(session, "admin", "alice")
        kept_id, kept = accounts.issue_key(session, "admin", user)
        gone_id, gone = accounts.issue_key(session, "admin", user, days=1)
        accounts.revoke_key(session, "admin", gone_id)
    with db.session() as session:
        assert accounts.authenticate(session, kept).user_id == user.id
        label = {k.id: k.prefix for k in session.query(ApiKey)}
        events = [(e.action, e.target, e.detail) for e in session.query(AuditEvent)]
    text = stored_text(db.engine)
    for key in (printed, kept, gone):
        assert leaked(key, text) == set()
    assert len(set(label.values())) == 3 and all(LABEL.fullmatch(v) for v in label.values())
    made = [d for action, target, d in events if (action, target) == ("key.create", "alice")]
    assert made == [{"key_id": kept_id, "prefix": label[kept_id]},
                    {"key_id": gone_id, "prefix": label[gone_id]}]  # fmt: skip
    assert ("key.revoke", gone_id, {"user": "alice", "prefix": label[gone_id]}) in events
