"""Sources that keep themselves current: `sources`, `source_items`, `documents.parse_as`.

Revision ID: 0008
Revises: 0007

A source (web site, WebDAV folder, mailbox, git branch, Slack channels, server folder) syncs
into one collection; `source_items` maps each item at the source (by the sha256 of its key)
to the version last read and the document holding it. `documents.parse_as` names the
extension a source's document is parsed as when its name is a label ("Title · URL").
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the column and the two tables."""
    with op.batch_alter_table("documents") as batch:
        batch.add_column(Column("parse_as", String(16), nullable=False, server_default=""))
    op.create_table(
        "sources",
        Column("id", String(32), primary_key=True),
        Column("name", String(64), nullable=False),
        Column("kind", String(16), nullable=False),
        Column(
            "collection_id",
            String(32),
            ForeignKey("collections.id", ondelete="CASCADE"),
            nullable=False,
        ),
        Column("settings", JSON, nullable=False),
        Column("sealed", Text, nullable=True),
        Column("interval_minutes", Integer, nullable=False),
        Column("enabled", Boolean, nullable=False),
        Column("created_by", String(64), nullable=True),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("state", JSON, nullable=False),
        Column("lock_holder", String(64), nullable=True),
        Column("lock_until", DateTime(timezone=True), nullable=True),
        Column("started_at", DateTime(timezone=True), nullable=True),
        Column("synced_at", DateTime(timezone=True), nullable=True),
        Column("next_at", DateTime(timezone=True), nullable=True),
        Column("counts", JSON, nullable=False),
        Column("error", Text, nullable=True),
    )
    op.create_index("ix_sources_name", "sources", ["name"], unique=True)
    op.create_index("ix_sources_collection_id", "sources", ["collection_id"])
    op.create_index("ix_sources_next_at", "sources", ["next_at"])
    op.create_table(
        "source_items",
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column(
            "source_id", String(32), ForeignKey("sources.id", ondelete="CASCADE"), nullable=False
        ),
        Column("key_hash", String(64), nullable=False),
        Column("key", Text, nullable=False),
        Column("version", Text, nullable=False),
        Column(
            "document_id",
            String(32),
            ForeignKey("documents.id", ondelete="SET NULL"),
            nullable=True,
        ),
        UniqueConstraint("source_id", "key_hash"),
    )
    op.create_index("ix_source_items_source_id", "source_items", ["source_id"])
    op.create_index("ix_source_items_document_id", "source_items", ["document_id"])


def downgrade() -> None:
    """Drop the tables and the column."""
    op.drop_table("source_items")
    op.drop_table("sources")
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("parse_as")
