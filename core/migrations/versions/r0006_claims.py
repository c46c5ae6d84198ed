"""Who reads a processing document: `documents.claimed_by`, the claiming task's id.

Revision ID: 0006
Revises: 0005

A worker claims a queued document with one conditional UPDATE that records its task's id;
a second task for the same document (re-sent by the sweeper while the first waited in Redis)
finds it processing under another id and skips it. Documents processing when the database is
upgraded have no holder, so no redelivered task could take them again: they go back to the
queue, their attempt uncounted, and the API's sweeper sends them to the workers again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the column; send the documents processing now back to the queue."""
    op.add_column("documents", sa.Column("claimed_by", sa.String(64), nullable=True))
    documents = sa.table(
        "documents",
        sa.column("status", sa.String),
        sa.column("attempts", sa.Integer),
        sa.column("stage", sa.String),
        sa.column("progress", sa.Float),
        sa.column("enqueued_at", sa.DateTime(timezone=True)),
    )
    op.execute(
        documents.update()
        .where(documents.c.status == "processing")
        .values(
            status="queued",
            attempts=sa.case((documents.c.attempts > 0, documents.c.attempts - 1), else_=0),
            stage=None,
            progress=None,
            enqueued_at=None,
        )
    )


def downgrade() -> None:
    """Drop the column."""
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("claimed_by")
