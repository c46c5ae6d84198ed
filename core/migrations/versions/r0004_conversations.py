"""Saved conversations: a person's chats from the web chat and /v1/chat, with their turns.

Revision ID: 0004
Revises: 0003

A conversation belongs to a user by id (a later user of the same name sees none of it) and
goes with them: deleting the user deletes their conversations, and those their turns.
Existing databases get two empty tables.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import JSON, Column, DateTime, ForeignKey, Integer, String, Text

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the conversations and their turns, each indexed by its owner."""
    op.create_table(
        "conversations",
        Column("id", String(32), primary_key=True),
        Column("user_id", String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        Column("title", String(200), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_conversations_user_id", "conversations", ["user_id"])
    op.create_table(
        "conversation_turns",
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column(
            "conversation_id",
            String(32),
            ForeignKey("conversations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        Column("question", Text, nullable=False),
        Column("answer", Text, nullable=False),
        Column("collections", JSON, nullable=False),
        Column("sources", JSON, nullable=False),
        Column("quote", JSON, nullable=False),
        Column("citations", JSON, nullable=False),
        Column("trace_id", String(32), nullable=True),
        Column("created_at", DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_conversation_turns_conversation_id", "conversation_turns", ["conversation_id"]
    )


def downgrade() -> None:
    """Drop them (and every saved conversation)."""
    op.drop_index("ix_conversation_turns_conversation_id", "conversation_turns")
    op.drop_table("conversation_turns")
    op.drop_index("ix_conversations_user_id", "conversations")
    op.drop_table("conversations")
