"""Backup and restore of a deployment whose SQL and lexical index live in Postgres."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.backup import backup
from app.doctor import Doctor
from app.intake import Intake
from app.restore import restore
from app.services import chroma_client
from cli.localstack import free_port
from cli.postgres import start_postgres
from core.errors import Conflict
from tests.isolated.test_operate import add_documents, deployment, found, redis_url
from worker.celery_app import make_celery

__all__ = ["redis_url"]  # the module's Redis fixture, shared


def test_a_postgres_deployment_restores_into_an_empty_one_with_identical_search(
    tmp_path: Path, redis_url: str
) -> None:
    queries = ["When does the Zorblat office open?", "where do visitors park", "train tickets"]
    source_db = start_postgres(tmp_path / "source-pg", free_port())
    target_db = start_postgres(tmp_path / "target-pg", free_port())
    try:
        with deployment(tmp_path, "source", redis_url, source_db.url) as (settings, services):
            intake = Intake(services, make_celery(settings))
            add_documents(services, intake, ["hours.md", "parking.md", "travel.md"])
            before = [found(services, q) for q in queries]
            manifest = backup(settings, chroma_client(settings), tmp_path / "backup")
        assert manifest["database"] == "postgresql" and "gptu.pgdump" in manifest["parts"]
        assert manifest["counts"]["documents"] == 3 == manifest["counts"]["lexical_chunks"]
        with deployment(tmp_path, "target", redis_url, target_db.url) as (target, restored):
            restore(target, chroma_client(target), tmp_path / "backup")
            assert [found(restored, q) for q in queries] == before and all(before)
            assert Doctor(restored).run().problems() == 0
            with pytest.raises(Conflict, match="not empty"):
                restore(target, chroma_client(target), tmp_path / "backup")
        with (
            deployment(tmp_path, "sqlite", redis_url) as (other, _),
            pytest.raises(Conflict, match="postgresql deployment"),
        ):
            restore(other, chroma_client(other), tmp_path / "backup")
    finally:
        source_db.close()
        target_db.close()
