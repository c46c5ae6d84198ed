"""People identified by id: user id columns beside the name columns, filled once from names.

Revision ID: 0002
Revises: 0001

Each id is taken from the user who has the row's name now, only now: a user created later
under an old name (a namesake of a deleted user) gets nothing. A development build between the
release and Alembic may already have added a column; it is kept as it is, and not filled again.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import Column, String, inspect

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# table, id column, the name column it replaces as identity, whether it is indexed
COLUMNS = (
    ("collections", "owner_id", "owner", False),
    ("documents", "uploaded_by_id", "uploaded_by", True),
    ("traces", "user_id", "user_name", True),
    ("feedback", "user_id", "user_name", False),
)


def upgrade() -> None:
    """Add each id column (and its index) that is missing, filled from the name beside it."""
    inspector = inspect(op.get_bind())
    for table, column, name, _indexed in COLUMNS:
        if column in {c["name"] for c in inspector.get_columns(table)}:
            continue
        op.add_column(table, Column(column, String(32), nullable=True))
        op.execute(
            f"UPDATE {table} SET {column} = "
            f"(SELECT users.id FROM users WHERE users.name = {table}.{name})"
        )
    for table, column, _name, indexed in COLUMNS:
        index = f"ix_{table}_{column}"
        if indexed and index not in {i["name"] for i in inspector.get_indexes(table)}:
            op.create_index(index, table, [column])


def downgrade() -> None:
    """Drop the id columns; the names stay."""
    for table, column, _name, indexed in COLUMNS:
        with op.batch_alter_table(table) as batch:
            if indexed:
                batch.drop_index(f"ix_{table}_{column}")
            batch.drop_column(column)
