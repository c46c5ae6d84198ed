"""Web sign-in: passwords, single sign-on subjects, disabled users, sessions, one-time links.

Revision ID: 0007
Revises: 0006

Users gain `password_hash` (argon2id), `sso_subject` (the identity provider's issuer and
`sub`, unique) and `disabled_at`. New tables: `web_sessions` (a signed-in browser, by its
cookie's sha256), `sign_in_links` (one-time links to set a password, by their sha256) and
`sso_logins` (OpenID Connect sign-ins on their way). Existing users keep their keys and have
no password until one is set.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import Column, DateTime, ForeignKey, String

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the columns and the three tables."""
    with op.batch_alter_table("users") as batch:
        batch.add_column(Column("password_hash", String(255), nullable=True))
        batch.add_column(Column("sso_subject", String(512), nullable=True))
        batch.add_column(Column("disabled_at", DateTime(timezone=True), nullable=True))
        batch.create_unique_constraint("uq_users_sso_subject", ["sso_subject"])
    user = ForeignKey("users.id", ondelete="CASCADE")
    op.create_table(
        "web_sessions",
        Column("id", String(64), primary_key=True),
        Column("user_id", String(32), user, nullable=False),
        Column("csrf", String(64), nullable=False),
        Column("method", String(16), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("seen_at", DateTime(timezone=True), nullable=False),
        Column("expires_at", DateTime(timezone=True), nullable=False),
        Column("address", String(64), nullable=True),
        Column("agent", String(200), nullable=True),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"])
    op.create_table(
        "sign_in_links",
        Column("id", String(64), primary_key=True),
        Column("user_id", String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        Column("created_by", String(64), nullable=True),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("expires_at", DateTime(timezone=True), nullable=False),
        Column("used_at", DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_sign_in_links_user_id", "sign_in_links", ["user_id"])
    op.create_table(
        "sso_logins",
        Column("id", String(64), primary_key=True),
        Column("nonce", String(128), nullable=False),
        Column("verifier", String(128), nullable=False),
        Column("return_to", String(200), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_table("sso_logins")
    op.drop_table("sign_in_links")
    op.drop_table("web_sessions")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_users_sso_subject", type_="unique")
        batch.drop_column("disabled_at")
        batch.drop_column("sso_subject")
        batch.drop_column("password_hash")
