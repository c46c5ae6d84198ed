"""The sweeper on Postgres: with several API replicas, a queued row another sweeper holds is
skipped (FOR UPDATE SKIP LOCKED), not sent twice nor waited for."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import psycopg

from app.intake import Intake
from app.services import build_services
from cli.localstack import free_port
from cli.postgres import start_postgres
from core.db import Collection, Document
from core.settings import Settings
from tests.fakes import HashEmbedder
from tests.isolated.test_operate import serving


class Recorder:
    """A Celery client we own: the documents of the tasks sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send_task(self, name: str, args: list[Any], retry: bool = False) -> None:
        """Record the task's documents."""
        self.sent.extend(args[0] if name == "ingest.batch" else args)


def test_a_row_another_sweeper_holds_is_skipped_not_waited_for(tmp_path: Path) -> None:
    cluster = start_postgres(tmp_path / "cluster", free_port())
    try:
        with serving(tmp_path / "chroma", "chroma") as env:
            settings = Settings(data_dir=tmp_path / "data", database_url=cluster.url,
                                chroma_port=int(env["GPTU_CHROMA_PORT"]))  # fmt: skip
            services = build_services(settings, embedder=HashEmbedder())
            with services.db.session() as session:
                collection = Collection(name="docs", embedder="hash")
                session.add(collection)
                session.flush()
                for name in ("held", "free"):
                    row = {"filename": f"{name}.md", "sha256": "0" * 64, "size": 1}
                    session.add(Document(id=name, collection_id=collection.id, **row))
            celery = Recorder()
            intake = Intake(services, celery)
            with psycopg.connect(cluster.url) as other:  # the other replica's sweeper, mid-pass
                other.execute("SELECT id FROM documents WHERE id = 'held' FOR UPDATE")
                passed = threading.Thread(target=intake.sweep, daemon=True)
                passed.start()
                passed.join(timeout=10)
                assert not passed.is_alive(), "the sweeper waited for a row another one holds"
                assert celery.sent == ["free"]
            assert intake.sweep() == 1  # released: the next pass sends it
            assert celery.sent == ["free", "held"]
            services.db.engine.dispose()
    finally:
        cluster.close()
