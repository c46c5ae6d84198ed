"""`gptu doctor`, `gptu backup` and `gptu restore` over real SQLite, Redis and Chroma servers.

Reconciliation calls every chunk of a collection its database does not know an orphan, and a
restore needs an empty Chroma, so these tests run their own small servers instead of sharing
the session stack's Chroma. Ingestion runs in-process with the hash embedder.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import select

from app.backup import DamagedBackup, backup, gptu_collections
from app.doctor import MISSING_FILE, Doctor
from app.intake import Intake, Upload
from app.restore import restore
from app.services import Services, build_services, chroma_client
from cli.localstack import GPTU, Process, free_port, wait_until
from core.accounts import Caller
from core.db import FAILED, QUEUED, READY, Collection, Document
from core.errors import Conflict
from core.settings import Settings
from ingest.passage import Passage
from tests.fakes import HashEmbedder
from tests.unit.test_cli import gptu
from worker.celery_app import make_celery

OPS = Caller(user_id="ops", name="ops", admin=True, groups=frozenset())
TEXTS = {
    "hours.md": "# Office hours\n\nThe Zorblat office opens at 7:15 on Mondays.\n",
    "parking.md": "# Parking\n\nStaff park in the north car park; visitors use the south one.\n",
    "travel.md": "# Travel\n\nTrain tickets over 200 euros need a manager's approval.\n",
    "lunch.md": "# Lunch\n\nThe canteen serves soup and bread from noon until two.\n",
    "queued.md": "# Pending\n\nThis one waits in the queue and has no chunks yet.\n",
}


@contextmanager
def serving(folder: Path, what: str) -> Iterator[dict[str, str]]:
    """`gptu redis` or `gptu chroma` on a free port with data in folder; its settings."""
    port = free_port()
    env = dict(os.environ, GPTU_DATA_DIR=str(folder))
    if what == "redis":
        env["GPTU_REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        ready = lambda: redis.Redis.from_url(env["GPTU_REDIS_URL"]).ping()  # noqa: E731
    else:
        env["GPTU_CHROMA_PORT"] = str(port)
        ready = lambda: httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat").is_success  # noqa: E731
    process = Process([*GPTU, what], env, folder.parent / f"{folder.name}-{what}.log")
    process.start()
    try:
        wait_until(ready, 60, f"{what} up")
        yield env
    finally:
        process.stop()


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis no worker reads: tasks sent there stay in its `ingest` list."""
    with serving(tmp_path_factory.mktemp("redis"), "redis") as env:
        yield env["GPTU_REDIS_URL"]


@contextmanager
def deployment(
    tmp: Path, name: str, redis_url: str, database_url: str = ""
) -> Iterator[tuple[Settings, Services]]:
    """Settings and services of a data folder with its own fresh Chroma server (and SQL in
    database_url when given, else SQLite in the folder)."""
    with serving(tmp / f"{name}-chroma", "chroma") as env:
        settings = Settings(
            data_dir=tmp / name, redis_url=redis_url, chroma_port=int(env["GPTU_CHROMA_PORT"]),
            database_url=database_url,
        )  # fmt: skip
        yield settings, build_services(settings, embedder=HashEmbedder())


def add_documents(services: Services, intake: Intake, names: list[str], run: bool = True) -> dict:
    """Upload these TEXTS into collection `docs` (created once) and ingest them in-process."""
    with services.db.session() as session:
        collection = session.scalar(select(Collection).where(Collection.name == "docs"))
        if collection is None:
            collection = Collection(name="docs", embedder=services.embedder.id)
            session.add(collection)
            session.commit()
        uploads = [Upload(n, io.BytesIO(TEXTS[n].encode())) for n in names]
        ids = {doc.filename: doc.id for doc in intake.accept(session, collection, uploads, OPS)}
    for doc_id in ids.values() if run else ():
        assert services.pipeline().run(doc_id)["status"] == "ready"
    return ids


def found(services: Services, query: str) -> list[str]:
    """Chunk ids the hybrid search returns, best first."""
    return [p.id for p in services.search().search(query, ["docs"], k=5)]


def test_doctor_finds_each_kind_of_orphan_fixes_them_and_leaves_good_documents(
    tmp_path: Path, redis_url: str
) -> None:
    with deployment(tmp_path, "data", redis_url) as (settings, services):
        intake = Intake(services, make_celery(settings))
        ids = add_documents(services, intake, ["hours.md", "parking.md", "travel.md", "lunch.md"])
        queued = add_documents(services, intake, ["queued.md"], run=False)["queued.md"]
        ghost = Passage(document_id=uuid.uuid4().hex, chunk=0, collection="docs",
                        filename="gone.md", text="a ghost chunk", vector=[0.1] * 64)  # fmt: skip
        services.vectors.space(services.embedder.id).replace_document(ghost.document_id, [ghost])
        services.lexical.replace_document("lexical-ghost", [ghost.model_copy(
            update={"document_id": "lexical-ghost"})])  # fmt: skip
        stray = settings.files_dir / hashlib.sha256(b"stray").hexdigest()
        stray.write_bytes(b"stray")
        os.utime(stray, (time.time() - 7200, time.time() - 7200))
        services.vectors.delete_document(ids["parking.md"])  # ready, chunks gone: re-index
        services.vectors.delete_document(ids["lunch.md"])  # ready, chunks and file gone: fail
        with services.db.session() as session:
            for name in ("travel.md", "lunch.md"):  # travel.md keeps its chunks
                doc = session.get(Document, ids[name])
                assert doc is not None
                (settings.files_dir / doc.sha256).unlink()
        env = {"GPTU_DATA_DIR": str(settings.data_dir), "GPTU_REDIS_URL": redis_url,
               "GPTU_CHROMA_PORT": str(settings.chroma_port)}  # fmt: skip
        cli = gptu("doctor", "--json", **env)
        assert cli.returncode == 1, cli.stderr
        assert {k: v for k, v in json.loads(cli.stdout).items() if v} == {
            "orphan_vector_chunks": 1, "orphan_lexical_chunks": 1, "orphan_files": 1,
            "incomplete_documents": 2, "missing_files": 2,
        }  # fmt: skip

        fixed = Doctor(services, intake).run(fix=True)
        assert (fixed.removed_vector_chunks, fixed.removed_lexical_chunks) == (1, 1)
        assert (fixed.removed_files, fixed.requeued, fixed.failed) == (1, 1, 1)
        assert not stray.exists()
        with services.db.session() as session:
            statuses = {n: session.get(Document, i) for n, i in ids.items()}
            assert statuses["parking.md"].status == QUEUED  # type: ignore[union-attr]
            assert statuses["lunch.md"].status == FAILED  # type: ignore[union-attr]
            assert statuses["lunch.md"].error == MISSING_FILE  # type: ignore[union-attr]
            assert statuses["travel.md"].status == READY  # type: ignore[union-attr]
            assert session.get(Document, queued).status == QUEUED  # type: ignore[union-attr]
        sent = redis.Redis.from_url(redis_url).lrange("ingest", 0, -1)
        assert any(ids["parking.md"].encode() in task for task in sent)
        assert services.pipeline().run(ids["parking.md"])["status"] == "ready"  # the worker's part

        again = Doctor(services, intake).run(fix=True)
        assert again.missing_files == 1  # travel.md: still searchable, only a new upload mends
        assert again.problems() == 1 and again.repairs() == 0
        assert found(services, "Zorblat office Mondays")[0] == f"{ids['hours.md']}:0"
        strays = [ghost.model_copy(update={"chunk": n, "collection": "elsewhere"})
                  for n in range(8)]  # fmt: skip
        services.vectors.space(services.embedder.id).replace_document(ghost.document_id, strays)
        assert Doctor(services, intake, safe=0).sweep() == 0  # most of Chroma: a person decides
        assert services.vectors.count(ghost.document_id) == 8
        assert Doctor(services, intake).sweep() == 8
        assert services.vectors.count(ghost.document_id) == 0
        assert found(services, "north car park")[0] == f"{ids['parking.md']}:0"
        assert found(services, "train tickets approval")[0] == f"{ids['travel.md']}:0"


def test_backup_restores_into_an_empty_deployment_with_identical_search(
    tmp_path: Path, redis_url: str
) -> None:
    queries = ["When does the Zorblat office open?", "where do visitors park", "train tickets"]
    with deployment(tmp_path, "source", redis_url) as (settings, services):
        intake = Intake(services, make_celery(settings))
        add_documents(services, intake, ["hours.md", "parking.md", "travel.md"])
        before = [found(services, q) for q in queries]
        manifest = backup(settings, chroma_client(settings), tmp_path / "backup")
    assert manifest["counts"] | {"files_missing": 0} == {
        "documents": 3, "files": 3, "files_missing": 0, "lexical_chunks": 3, "vector_chunks": 3,
    }  # fmt: skip
    with pytest.raises(Conflict):
        backup(settings, None, tmp_path / "backup")  # never into a folder that holds something

    with deployment(tmp_path, "target", redis_url) as (target, restored):
        restore(target, chroma_client(target), tmp_path / "backup")
        assert [found(restored, q) for q in queries] == before
        assert all(before)
        report = Doctor(restored).run()
        assert report.problems() == 0, report
        with pytest.raises(Conflict, match="not empty"):
            restore(target, chroma_client(target), tmp_path / "backup")
        restore(target, chroma_client(target), tmp_path / "backup", force=True)
        assert [found(restored, q) for q in queries] == before

        npy = next((tmp_path / "backup" / "vectors").glob("*.npy"))
        npy.write_bytes(npy.read_bytes()[:-4] + b"\0\0\0\1")
        with pytest.raises(DamagedBackup, match=f"vectors/{npy.name} does not match"):
            restore(target, chroma_client(target), tmp_path / "backup", force=True)


def test_a_restore_whose_database_part_fails_leaves_the_target_chroma_and_database_as_they_were(
    tmp_path: Path, redis_url: str
) -> None:
    with deployment(tmp_path, "source", redis_url) as (settings, services):
        add_documents(services, Intake(services, make_celery(settings)), ["hours.md"])
        backup(settings, chroma_client(settings), tmp_path / "backup")
    copy = tmp_path / "backup" / "gptu.db"  # unreadable, yet matching a re-written manifest
    copy.write_bytes(b"not an SQLite file".ljust(100, b"\0") + copy.read_bytes()[100:])
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    manifest["parts"]["gptu.db"] = hashlib.sha256(copy.read_bytes()).hexdigest()
    (tmp_path / "backup" / "manifest.json").write_text(json.dumps(manifest))

    with deployment(tmp_path, "target", redis_url) as (target, held):
        ids = add_documents(held, Intake(held, make_celery(target)), ["lunch.md"])
        chroma = [(h.name, h.count()) for h in gptu_collections(chroma_client(target))]
        with pytest.raises(DamagedBackup, match=r"gptu\.db"):
            restore(target, chroma_client(target), tmp_path / "backup", force=True)
        assert [(h.name, h.count()) for h in gptu_collections(chroma_client(target))] == chroma
        assert chroma and found(held, "canteen soup") == [f"{ids['lunch.md']}:0"]
        with held.db.session() as session:
            assert [d.filename for d in session.scalars(select(Document))] == ["lunch.md"]
