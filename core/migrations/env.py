"""Alembic's entry: runs the revisions on the connection core.schema hands over, or, for a
developer's `alembic revision --autogenerate`, on the database of GPTU_DATABASE_URL."""

from __future__ import annotations

from alembic import context

from core.schema import include_object


def run(connection: object) -> None:
    """Run the revisions (or compare for autogenerate) on one connection."""
    import core.records  # noqa: F401  (registers the trace, feedback and Slack tables)
    from core.db import Base

    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=Base.metadata,
        include_object=include_object,
        render_as_batch=True,  # SQLite alters a table by copying it
    )
    with context.begin_transaction():
        context.run_migrations()


given = context.config.attributes.get("connection")
if given is not None:
    run(given)
else:
    from core.db import make_engine
    from core.settings import Settings

    engine = make_engine(Settings().sqlalchemy_url)
    with engine.connect() as conn:
        run(conn)
        conn.commit()
