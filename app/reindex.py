"""Re-embed a collection with another embedder while search keeps answering from the old one.

Every ready document's stored chunks (read back from the lexical index; re-parsed from the
stored file only when they are not all there) are embedded into the new embedder's vector
space. Search keeps using the old space, which the collection still records, until every
document is done; then the collection's embedder flips in one SQL transaction (refused, and
tried again, while a document is being ingested or one changed meanwhile), and the old space
is deleted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from app.services import Services
from core.db import PROCESSING, READY, Collection, Document
from core.errors import InvalidRequest, NotFound
from ingest.embed import embedder_id
from ingest.store import Job

log = logging.getLogger(__name__)


@dataclass
class Reindexed:
    """What a reindex did."""

    collection: str
    before: str
    after: str
    documents: int = 0
    chunks: int = 0
    seconds: float = 0.0


def reindex(
    services: Services,
    name: str,
    embedder: str,
    wait: float = 600,
    progress: Callable[[str], None] = log.info,
) -> Reindexed:
    """Move collection `name` to `embedder` (a GPTU_EMBEDDER name or an embedder id).

    wait: seconds to wait for documents being ingested before giving up on the flip.
    """
    target = embedder_id(embedder)
    if target not in services.embedders:
        raise InvalidRequest(f"unknown embedder {embedder!r}")
    with services.db.session() as session:
        collection = session.scalar(select(Collection).where(Collection.name == name))
        if collection is None:
            raise NotFound(f"collection {name!r} does not exist")
        collection_id, source = collection.id, collection.embedder
    report = Reindexed(name, source, target)
    if source == target:
        return report
    started = time.monotonic()
    done: dict[str, datetime] = {}
    deadline = started + wait
    while True:
        pending = changed_documents(services, collection_id, done)
        for doc_id, updated_at in pending:
            report.chunks += reembed(services, doc_id, name, target)
            done[doc_id] = updated_at
            progress(f"{len(done)} documents re-embedded")
        if not pending and flip(services, collection_id, target, done):
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"documents of {name!r} kept being ingested for {wait:.0f} s")
        if not pending:
            time.sleep(0.5)  # a document is being ingested: wait for it
    forget_deleted(services, done)
    services.vectors.space(source).drop_space(name)
    report.documents, report.seconds = len(done), time.monotonic() - started
    return report


def changed_documents(
    services: Services, collection_id: str, done: dict[str, datetime]
) -> list[tuple[str, datetime]]:
    """Ready documents not re-embedded yet, or changed since."""
    with services.db.session() as session:
        rows = session.execute(
            select(Document.id, Document.updated_at).where(
                Document.collection_id == collection_id, Document.status == READY
            )
        ).all()
    return [(doc_id, at) for doc_id, at in rows if done.get(doc_id) != at]


def reembed(services: Services, document_id: str, collection: str, target: str) -> int:
    """Put one document's chunks into the target embedder's space; returns the chunk count."""
    with services.db.session() as session:
        doc = session.get(Document, document_id)
        if doc is None:
            return 0
        filename, sha, expected, parse_as = doc.filename, doc.sha256, doc.chunks, doc.parse_as
    passages = services.lexical.passages(document_id)
    if len(passages) != expected:  # not all there: read the stored file again
        job = Job(document_id, filename, collection, target, services.files.local(sha), 1, parse_as)
        records, _ = services.pipeline().build(job)
        services.lexical.replace_document(document_id, records)
    else:
        vectors = services.embedders.get(target).embed([p.text for p in passages])
        records = [
            p.model_copy(update={"vector": v}) for p, v in zip(passages, vectors, strict=True)
        ]
    services.vectors.space(target).replace_document(document_id, records)
    return len(records)


def flip(services: Services, collection_id: str, target: str, done: dict[str, datetime]) -> bool:
    """Record the new embedder, unless a document is being ingested or changed meanwhile.

    The update comes first: on SQLite it holds the write lock, so no worker can claim or
    finish a document of the collection between the checks and the commit.
    """
    with services.db.session() as session:
        collection = session.get(Collection, collection_id)
        if collection is None:
            raise NotFound("the collection was deleted while it was being re-embedded")
        collection.embedder = target
        session.flush()
        busy = session.scalar(
            select(func.count())
            .select_from(Document)
            .where(Document.collection_id == collection_id, Document.status == PROCESSING)
        )
        ready = session.execute(
            select(Document.id, Document.updated_at).where(
                Document.collection_id == collection_id, Document.status == READY
            )
        ).all()
        if busy or any(done.get(doc_id) != at for doc_id, at in ready):
            session.rollback()
            return False
    return True


def forget_deleted(services: Services, done: dict[str, datetime]) -> None:
    """Remove vectors written for documents deleted while they were being re-embedded."""
    with services.db.session() as session:
        alive = set(session.scalars(select(Document.id).where(Document.id.in_(list(done)))))
    for doc_id in set(done) - alive:
        services.vectors.delete_document(doc_id)
