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
    assert store.claim("a") is not None
    assert row("a") == ("processing", "parsing", 0.0, 0)
    store.progress("a", "embedding", 1.7)
    assert row("a") == ("processing", "embedding", 1.0, 0)
    assert store.finish("a", Outcome(pages=3, chunks=4, ocr_pages=2))
    assert row("a") == ("ready", None, None, 2)
    store.progress("a", "indexing", 0.2)  # a late report does not touch a finished row
    assert row("a") == ("ready", None, None, 2)

    assert store.claim("b") is not None
    store.progress("b", "ocr", 0.25)
    store.release("b", "Chroma is down")
    assert row("b") == ("queued", None, None, 0)
    assert store.claim("b") is not None
    store.fail("b", "damaged")
    assert row("b") == ("failed", None, None, 0)
