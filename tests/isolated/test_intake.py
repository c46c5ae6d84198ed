"""Intake under concurrency, on real Redis, Chroma, SQLite and Celery workers: a document is
read by one worker at a time, a sweeper pass never doubles a fresh upload's tasks, and a
delete never takes the file of an identical upload that is being committed."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import select, update

from app.doctor import Doctor
from app.intake import Intake, Upload
from app.services import Services, build_services
from cli.localstack import GPTU, Process, consuming, wait_until
from core.accounts import Caller
from core.db import FAILED, QUEUED, READY, Collection, Document, utcnow
from core.settings import Settings
from tests.conftest import CORPUS
from tests.fakes import HashEmbedder
from tests.isolated.test_operate import serving
from worker.celery_app import make_celery

OPS = Caller(user_id="ops", name="ops", admin=True, groups=frozenset())


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Redis and Chroma of this module's own (no worker reads this Redis until a test starts
    its workers)."""
    tmp = tmp_path_factory.mktemp("intake")
    with serving(tmp / "redis", "redis") as redis_env, serving(tmp / "chroma", "chroma") as env:
        yield {"GPTU_REDIS_URL": redis_env["GPTU_REDIS_URL"],
               "GPTU_CHROMA_PORT": env["GPTU_CHROMA_PORT"]}  # fmt: skip


def settings_in(folder: Path, servers: dict[str, str], **more: Any) -> Settings:
    """Settings of a data folder of its own on this module's servers."""
    return Settings(data_dir=folder, redis_url=servers["GPTU_REDIS_URL"],
                    chroma_port=int(servers["GPTU_CHROMA_PORT"]), **more)  # fmt: skip


def collection_in(services: Services, name: str = "docs") -> Collection:
    """A collection with the services' default embedder."""
    with services.db.session() as session:
        collection = Collection(name=name, embedder=services.embedders.default_id)
        session.add(collection)
        session.flush()
        session.expunge(collection)
        return collection


def upload(intake: Intake, collection: Collection, files: dict[str, bytes]) -> dict[str, str]:
    """Upload these files; their document ids by name."""
    with intake.services.db.session() as session:
        stored = session.merge(collection)
        uploads = [Upload(name, io.BytesIO(data)) for name, data in files.items()]
        return {doc.filename: doc.id for doc in intake.accept(session, stored, uploads, OPS)}


def long_text(words: int) -> bytes:
    """A markdown file of distinct sentences: many chunks to embed."""
    lines = [
        f"Rule {n}: form {n * 7 % 1000} goes to desk {n % 97} before noon." for n in range(words)
    ]
    return ("# Rules\n\n" + "\n\n".join(lines)).encode()


class SweepingCelery:
    """A Celery client we own that records the tasks sent and runs one sweeper pass as the
    first task goes out: the moment between the upload's commit and its tasks being sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.intake: Intake | None = None

    def send_task(self, name: str, args: list[Any], retry: bool = False) -> None:
        """Record the documents of the task; sweep once, from inside the first send."""
        self.sent.extend(args[0] if name == "ingest.batch" else args)
        intake, self.intake = self.intake, None
        if intake is not None:
            intake.sweep()


def test_a_sweeper_pass_while_an_upload_is_sent_sends_none_of_it_again(
    tmp_path: Path, servers: dict[str, str]
) -> None:
    services = build_services(settings_in(tmp_path / "data", servers), embedder=HashEmbedder())
    celery = SweepingCelery()
    intake = Intake(services, celery)
    celery.intake = intake
    collection = collection_in(services)
    ids = upload(intake, collection, {f"{n}.md": f"# Note {n}\n\nText {n}.\n".encode()
                                      for n in range(3)})  # fmt: skip
    assert sorted(celery.sent) == sorted(ids.values())  # each document's task sent once
    with services.db.session() as session:
        assert all(doc.enqueued_at is not None for doc in session.scalars(select(Document)))


def test_a_delete_keeps_the_file_of_an_identical_upload_being_committed(
    tmp_path: Path, servers: dict[str, str]
) -> None:
    """The same bytes uploaded again while the first copy's document is deleted: the delete
    runs after the new upload stored its file and before its row is committed."""
    settings = settings_in(tmp_path / "data", servers)
    services = build_services(settings, embedder=HashEmbedder())
    intake = Intake(services, make_celery(settings))
    collection = collection_in(services)
    same = b"# Parking\n\nVisitors park in the south car park.\n"
    first = upload(intake, collection, {"parking.md": same})["parking.md"]

    class DeletesWhileRead(io.BytesIO):
        """The upload's second file: reading it deletes the first copy's document."""

        def read(self, size: int | None = -1) -> bytes:
            with services.db.session() as session:
                doc = session.get(Document, first)
                if doc is not None:
                    intake.delete(session, doc)
            return super().read(size)

    with services.db.session() as session:
        stored = session.merge(collection)
        other = DeletesWhileRead(b"# Other\n\nSomething else.\n")
        uploads = [Upload("parking-again.md", io.BytesIO(same)), Upload("other.md", other)]
        docs = intake.accept(session, stored, uploads, OPS)
        sha = docs[0].sha256
    with services.db.session() as session:
        assert session.get(Document, first) is None
        assert session.scalar(select(Document.id).where(Document.sha256 == sha)) == docs[0].id
    assert services.files.exists(sha), "the new upload's file was deleted with the old one"
    assert services.files.local(sha).read_bytes() == same
    leftovers = [p.name for p in settings.files_dir.iterdir() if p.name.startswith(".")]
    assert leftovers == []
    with services.db.session() as session:  # and a delete with no other user removes it
        intake.delete(session, session.get(Document, docs[0].id))  # type: ignore[arg-type]
    assert not services.files.exists(sha)


def test_a_backlog_is_sent_again_only_once_its_tasks_are_lost(
    tmp_path: Path, servers: dict[str, str]
) -> None:
    """Documents queued past GPTU_REQUEUE_AFTER whose tasks still wait in Redis are a long
    backlog, not lost: the sweeper leaves them; once the queue is empty (Redis restarted
    without its data) it sends them again."""
    settings = settings_in(tmp_path / "data", servers, requeue_after=5)
    services = build_services(settings, embedder=HashEmbedder())
    intake = Intake(services, make_celery(settings))
    queue = redis.Redis.from_url(settings.redis_url)
    queue.delete("ingest")
    ids = upload(
        intake, collection_in(services), {"a.md": b"# A\n\nOne.\n", "b.md": b"# B\n\nTwo.\n"}
    )
    with services.db.session() as session:  # waited past GPTU_REQUEUE_AFTER
        session.execute(update(Document).values(enqueued_at=utcnow().replace(year=2000)))
    assert queue.llen("ingest") == 1  # one batch task for the two small files
    assert intake.sweep() == 0
    assert queue.llen("ingest") == 1
    queue.delete("ingest")  # the task is lost
    assert intake.sweep() == 2
    sent = repr(queue.lrange("ingest", 0, -1))
    assert all(doc_id in sent for doc_id in ids.values())
    queue.delete("ingest")


@pytest.mark.slow
def test_two_workers_given_each_task_twice_read_each_document_once(
    tmp_path: Path, servers: dict[str, str]
) -> None:
    """Every document's task is in Redis twice: one worker reads the long document while the
    other, done with the short one, takes the long one's second task. It must skip it."""
    settings = settings_in(tmp_path / "data", servers)
    services = build_services(settings)
    intake = Intake(services, make_celery(settings))
    collection = collection_in(services)
    redis.Redis.from_url(settings.redis_url).delete("ingest")
    ids = upload(
        intake, collection, {"long.md": long_text(1500), "short.md": b"# Short\n\nOne line.\n"}
    )
    with services.db.session() as session:  # sent again while the first tasks still wait (a
        # sweeper that thought them lost, another replica's, a retry): each task comes twice
        assert intake.enqueue_many(session, list(session.scalars(select(Document)))) == 2
    env = dict(os.environ, GPTU_DATA_DIR=str(settings.data_dir), **servers)
    logs = [tmp_path / f"worker{n}.log" for n in range(2)]
    workers = [Process([*GPTU, "worker"], env, log) for log in logs]
    for worker in workers:
        worker.start()
    try:
        for log in logs:
            wait_until(lambda log=log: consuming(log), 120, "worker consuming")  # type: ignore[misc]

        def settled() -> bool:
            with services.db.session() as session:
                return all(session.get(Document, i).status == READY for i in ids.values())  # type: ignore[union-attr]

        queue = redis.Redis.from_url(settings.redis_url)
        wait_until(lambda: queue.llen("ingest") == 0, 240, "every task taken")
        wait_until(settled, 240, "both documents ready")
        wait_until(lambda: not queue.hlen("unacked"), 60, "every task done")
    finally:
        for worker in workers:
            worker.stop()
    with services.db.session() as session:
        rows = {
            doc.filename: (doc.status, doc.attempts) for doc in session.scalars(select(Document))
        }
    assert rows == {"long.md": (READY, 1), "short.md": (READY, 1)}
    assert QUEUED not in {status for status, _ in rows.values()}


def copies_of(data: bytes, folder: Path) -> list[Path]:
    """Files under folder holding exactly these bytes."""
    return [p for p in folder.rglob("*") if p.is_file() and p.stat().st_size == len(data)
            and p.read_bytes() == data]  # fmt: skip


@pytest.mark.slow
def test_a_worker_killed_mid_parse_leaves_no_copy_of_a_deleted_document(
    tmp_path: Path, servers: dict[str, str]
) -> None:
    """Parsing works on a link to the stored file outside the file store; the next worker
    process removes what a killed one left, so deleting the document removes its bytes."""
    data = (CORPUS / "handbook-872p.docx").read_bytes()
    settings = settings_in(tmp_path / "data", servers)
    services = build_services(settings)  # the worker's own embedder
    intake = Intake(services, make_celery(settings))
    collection = collection_in(services)
    env = dict(os.environ, GPTU_DATA_DIR=str(settings.data_dir), **servers)
    worker = Process([*GPTU, "worker"], env, tmp_path / "worker.log")
    worker.start()
    try:
        wait_until(lambda: consuming(worker.log), 120, "worker consuming")
        doc_id = upload(intake, collection, {"handbook.docx": data})["handbook.docx"]
        working = lambda: next(settings.data_dir.rglob("document.docx"), None)  # noqa: E731
        wait_until(lambda: working() is not None, 60, "the worker parsing")
        in_store = [p.name for p in settings.files_dir.iterdir() if p.name.startswith(".")]
        worker.stop(signal.SIGKILL)
    finally:
        worker.stop(signal.SIGKILL)
    assert in_store == [], "parsing works inside the file store"
    assert working() is not None  # the killed worker's copy is still there
    with services.db.session() as session:
        session.execute(update(Document).values(status=FAILED))  # as the sweeper would, later
        intake.delete(session, session.get(Document, doc_id))  # type: ignore[arg-type]
    again = Process([*GPTU, "worker"], env, tmp_path / "worker-again.log")
    again.start()
    try:
        wait_until(lambda: consuming(again.log), 120, "the next worker consuming")
        wait_until(lambda: "left by stopped workers" in again.log.read_text(), 60, "cleanup")
    finally:
        again.stop()
    assert copies_of(data, settings.data_dir) == []


def test_doctor_removes_parsing_folders_of_stopped_workers_and_of_earlier_releases(
    tmp_path: Path,
) -> None:
    with serving(tmp_path / "chroma", "chroma") as env:  # its own: the doctor judges all of it
        settings = Settings(data_dir=tmp_path / "data", chroma_port=int(env["GPTU_CHROMA_PORT"]))
        services = build_services(settings, embedder=HashEmbedder())
        gone = subprocess.Popen(["true"])
        gone.wait()  # a process id nobody has now
        dead = settings.scratch_dir / f"{socket.gethostname()}-{gone.pid}" / "parse-x"
        live = settings.scratch_dir / f"{socket.gethostname()}-{os.getpid()}" / "parse-y"
        legacy = settings.files_dir / ".parse-abc"
        for folder in (dead, live, legacy):
            folder.mkdir(parents=True)
            (folder / "document.pdf").write_bytes(b"%PDF- a copy")
        os.utime(legacy, (time.time() - 7200, time.time() - 7200))
        report = Doctor(services).run()
        assert report.scratch_leftovers == 2 and report.problems() == 2
        fixed = Doctor(services).run(fix=True)
        assert fixed.removed_scratch == 2
        assert not dead.parent.exists() and not legacy.exists() and live.exists()
        assert Doctor(services).run().problems() == 0
