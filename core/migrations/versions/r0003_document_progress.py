"""Where a document is on its way: the worker's stage and progress, and the pages read by OCR.

Revision ID: 0003
Revises: 0002

`stage` is parsing / ocr / chunking / embedding / indexing while a worker holds the document,
`progress` its share done (0..1) within the document, and `ocr_pages` how many pages were read
from images rather than text. Existing rows keep NULL / 0: they are finished.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import Column, Float, Integer, String

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the three columns."""
    with op.batch_alter_table("documents") as batch:
        batch.add_column(Column("stage", String(16), nullable=True))
        batch.add_column(Column("progress", Float, nullable=True))
        batch.add_column(Column("ocr_pages", Integer, nullable=True, server_default="0"))


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("ocr_pages")
        batch.drop_column("progress")
        batch.drop_column("stage")
