"""The SQL document store on a real SQLite database: states, stages and progress."""

from __future__ import annotations

from pathlib import Path

from app.files import LocalFiles
from app.store import SqlDocumentStore
from core.db import Collection, Database, Document
from ingest.store import Outcome


def test_a_claimed_document_shows_its_stage_until_it_ends(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'gptu.db'}")
    store = SqlDocumentStore(db, LocalFiles(tmp_path / "files"))
    with db.session() as session:
        collection = Collection(name="c", embedder="hash")
        session.add(collection)
        session.flush()
        for name in ("a", "b"):
            session.add(Document(id=name, collection_id=collection.id, filename=f"{name}.pdf",
                                 sha256="0" * 64, size=10))  # fmt: skip

    def row(document_id: str) -> tuple[str, str | None, float | None, int | None]:
        with db.session() as session:
            doc = session.get(Document, document_id)
            assert doc is not None
            return doc.status, doc.stage, doc.progress, doc.ocr_pages

    store.progress("a", "embedding", 0.5)  # not claimed: nothing to show
    assert row("a") == ("queued", None, None, 0)
    assert store.claim("a", "task-1") is not None
    assert row("a") == ("processing", "parsing", 0.0, 0)
    store.progress("a", "embedding", 1.7)
    assert row("a") == ("processing", "embedding", 1.0, 0)
    assert store.finish("a", Outcome(pages=3, chunks=4, ocr_pages=2))
    assert row("a") == ("ready", None, None, 2)
    store.progress("a", "indexing", 0.2)  # a late report does not touch a finished row
    assert row("a") == ("ready", None, None, 2)

    assert store.claim("b", "task-2") is not None
    store.progress("b", "ocr", 0.25)
    store.release("b", "Chroma is down")
    assert row("b") == ("queued", None, None, 0)
    assert store.claim("b", "task-2") is not None
    store.fail("b", "damaged")
    assert row("b") == ("failed", None, None, 0)


def test_a_second_task_for_a_document_being_read_skips_it_and_counts_no_attempt(
    tmp_path: Path,
) -> None:
    """The sweeper re-sends a document whose first task still waits in Redis: whichever task
    comes second finds it processing and leaves it; only the first task's own redelivery (its
    worker lost) takes it again, and that attempt counts."""
    db = Database(f"sqlite:///{tmp_path / 'gptu.db'}")
    store = SqlDocumentStore(db, LocalFiles(tmp_path / "files"))
    with db.session() as session:
        collection = Collection(name="c", embedder="hash")
        session.add(collection)
        session.flush()
        session.add(Document(id="a", collection_id=collection.id, filename="a.pdf",
                             sha256="0" * 64, size=10))  # fmt: skip

    def attempts() -> tuple[str, int]:
        with db.session() as session:
            doc = session.get(Document, "a")
            assert doc is not None
            return doc.status, doc.attempts

    first = store.claim("a", "task-1")
    assert first is not None and first.attempt == 1
    assert store.claim("a", "task-2") is None  # the re-sent task: already being read
    assert attempts() == ("processing", 1)
    again = store.claim("a", "task-1")  # task-1 redelivered: its worker was lost
    assert again is not None and again.attempt == 2
    store.release("a", "Chroma is down")  # back in the queue: any task may take it
    assert store.claim("a", "task-3") is not None
    assert store.finish("a", Outcome(pages=1, chunks=1))
    assert store.claim("a", "task-3") is None
    assert attempts() == ("ready", 2)
