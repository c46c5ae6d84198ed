"""The tables of the last release made before Alembic (cd61e2a), frozen here.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from typing import Any

from alembic import op
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def at(name: str, nullable: bool = False, index: bool = False) -> Column[Any]:
    """A timezone-aware timestamp column."""
    return Column(name, DateTime(timezone=True), nullable=nullable, index=index)


def owned(table: str) -> ForeignKey:
    """A reference whose rows go when the row they point at goes."""
    return ForeignKey(f"{table}.id", ondelete="CASCADE")


def release_tables() -> MetaData:
    """The release's tables, as its models declared them (not today's models: those move on)."""
    meta = MetaData()
    Table("collections", meta,
          Column("id", String(32), primary_key=True),
          Column("name", String(64), nullable=False, unique=True, index=True),
          Column("embedder", String(128), nullable=False),
          Column("readers", JSON, nullable=False),
          Column("writers", JSON, nullable=False),
          Column("owner", String(64)),
          at("created_at"))  # fmt: skip
    Table("documents", meta,
          Column("id", String(32), primary_key=True),
          Column("collection_id", String(32), owned("collections"), nullable=False, index=True),
          Column("filename", String(1024), nullable=False),
          Column("sha256", String(64), nullable=False, index=True),
          Column("size", Integer, nullable=False),
          Column("status", String(16), nullable=False, index=True),
          Column("error", Text),
          Column("pages", Integer, nullable=False),
          Column("chunks", Integer, nullable=False),
          Column("attempts", Integer, nullable=False),
          Column("uploaded_by", String(64), index=True),
          Column("flagged", Integer),
          Column("redacted", Integer),
          at("enqueued_at", nullable=True),
          at("created_at"),
          at("updated_at"))  # fmt: skip
    Table("users", meta,
          Column("id", String(32), primary_key=True),
          Column("name", String(64), nullable=False, unique=True, index=True),
          Column("email", String(320), index=True),
          Column("admin", Boolean, nullable=False),
          Column("slack_id", String(32), index=True),
          Column("default_collection", String(64)),
          at("created_at"))  # fmt: skip
    Table("groups", meta,
          Column("id", String(32), primary_key=True),
          Column("name", String(64), nullable=False, unique=True, index=True),
          at("created_at"))  # fmt: skip
    Table("memberships", meta,
          Column("user_id", String(32), owned("users"), primary_key=True),
          Column("group_id", String(32), owned("groups"), primary_key=True))  # fmt: skip
    Table("api_keys", meta,
          Column("id", String(32), primary_key=True),
          Column("user_id", String(32), owned("users"), nullable=False, index=True),
          Column("digest", String(64), nullable=False, unique=True, index=True),
          Column("prefix", String(16), nullable=False),
          at("created_at"),
          at("revoked_at", nullable=True),
          at("expires_at", nullable=True))  # fmt: skip
    Table("audit", meta,
          Column("id", Integer, primary_key=True, autoincrement=True),
          at("at", index=True),
          Column("actor", String(64), nullable=False, index=True),
          Column("action", String(32), nullable=False, index=True),
          Column("target", String(256), nullable=False),
          Column("detail", JSON, nullable=False))  # fmt: skip
    Table("traces", meta,
          Column("id", String(32), primary_key=True),
          Column("request_id", String(64), index=True),
          Column("user_name", String(64), nullable=False, index=True),
          Column("surface", String(16), nullable=False),
          Column("question", Text, nullable=False),
          Column("search_query", Text, nullable=False),
          Column("collections", JSON, nullable=False),
          Column("passages", JSON, nullable=False),
          Column("prompt_tokens", Integer, nullable=False),
          Column("answer_tokens", Integer, nullable=False),
          Column("model", String(128), nullable=False),
          Column("variant", String(64)),
          Column("grounded", Boolean, nullable=False),
          Column("answer", Text, nullable=False),
          Column("citations", JSON, nullable=False),
          Column("checks", JSON, nullable=False),
          Column("tokens_per_s", Float),
          Column("first_token_ms", Float),
          Column("total_ms", Float),
          at("created_at", index=True))  # fmt: skip
    Table("feedback", meta,
          Column("id", String(32), primary_key=True),
          Column("trace_id", String(32), owned("traces"), nullable=False, index=True),
          Column("user_name", String(64), nullable=False),
          Column("rating", Integer, nullable=False),
          Column("comment", Text),
          Column("surface", String(16), nullable=False),
          at("created_at"))  # fmt: skip
    Table("slack_events", meta,
          Column("event_id", String(64), primary_key=True),
          at("at", index=True))  # fmt: skip
    Table("slack_turns", meta,
          Column("id", Integer, primary_key=True, autoincrement=True),
          Column("channel", String(32), nullable=False, index=True),
          Column("thread_ts", String(32), nullable=False, index=True),
          Column("role", String(16), nullable=False),
          Column("content", Text, nullable=False),
          at("at"))  # fmt: skip
    Table("slack_notices", meta,
          Column("document_id", String(32), owned("documents"), primary_key=True),
          Column("channel", String(32), nullable=False),
          Column("thread_ts", String(32), nullable=False),
          Column("filename", String(1024), nullable=False))  # fmt: skip
    return meta


def upgrade() -> None:
    """Create the release's tables and indexes."""
    release_tables().create_all(op.get_bind())


def downgrade() -> None:
    """Drop them (and everything in them)."""
    release_tables().drop_all(op.get_bind())
