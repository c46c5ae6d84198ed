"""API keys told apart by a random public label, not by their own first characters.

Revision ID: 0005
Revises: 0004

Up to 0004 `api_keys.prefix` held a key's first 12 characters, and the audit entries of keys
(`key.create`, `key.revoke`) named them too: with a 16-character GPTU_ADMIN_TOKEN that left 4
characters to find against the stored sha256, in every backup. Every key gets a new label,
`gptu_` and 11 random characters (no part of any key), and each audit entry that names a
prefix names its key's new label instead, or none once the key is gone. Keys still work.
"""

from __future__ import annotations

import secrets
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

KEYS = sa.table("api_keys", sa.column("id", sa.String), sa.column("prefix", sa.String))
AUDIT = sa.table(
    "audit",
    sa.column("id", sa.Integer),
    sa.column("action", sa.String),
    sa.column("target", sa.String),
    sa.column("detail", sa.JSON),
)


def label() -> str:
    """A key's public label, as core.accounts makes it at 0005."""
    return "gptu_" + secrets.token_urlsafe(8)


def upgrade() -> None:
    """Label every key anew, then rewrite the audit entries that name a key's prefix."""
    bind = op.get_bind()
    labels = {key_id: label() for key_id in bind.scalars(sa.select(KEYS.c.id)).all()}
    for key_id, new in labels.items():
        bind.execute(KEYS.update().where(KEYS.c.id == key_id).values(prefix=new))
    named = AUDIT.c.action.like("key.%") & sa.cast(AUDIT.c.detail, sa.Text).like('%"prefix"%')
    for event in bind.execute(sa.select(AUDIT).where(named)).all():
        detail = relabelled(event.detail, event.target, labels)
        if detail is not None:
            bind.execute(AUDIT.update().where(AUDIT.c.id == event.id).values(detail=detail))


def relabelled(detail: Any, target: str, labels: dict[str, str]) -> dict[str, Any] | None:
    """An audit entry's detail with its key's new label for the prefix (the key by its
    `key_id`, or by the target, a revoked key's id); None when it names no prefix."""
    if not isinstance(detail, dict) or "prefix" not in detail:
        return None
    rest = {k: v for k, v in detail.items() if k != "prefix"}
    key_id = detail.get("key_id") or target
    return {**rest, "prefix": labels[key_id]} if key_id in labels else rest


def downgrade() -> None:
    """Nothing: the labels fit 0004's column, and the first characters are not kept to restore."""
