"""One sync of a source: list it, read what changed, keep the collection's documents equal to it.

A new item becomes a queued document; a changed one is re-indexed in place (same document id:
its old chunks stay searchable until the new ones replace them, so search never shows both
versions); an item no longer listed by a complete listing loses its document. Each item is
committed as it is read, so an interrupted sync resumes where it stopped. One sync of a source
runs at a time: a lease on the source's row (`lock_holder` until `lock_until`).
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update

from app.intake import Intake, clean_name
from app.services import Services
from core.db import FAILED, PROCESSING, QUEUED, Collection, Document, Source, SourceItem, utcnow
from core.secrets import Sealer
from ingest.parse import extension, is_supported, supported_list
from sources.base import Entry, ItemError, Kind, Scan, SourceError, too_big
from sources.kinds import kind

log = logging.getLogger(__name__)
SHOWN_PROBLEMS = 5
SEND_EVERY = 50  # entries between sending queued documents (and renewing the lease)
RETRY_AFTER_ERROR = timedelta(minutes=10)


@dataclass
class Counts:
    """What one sync did."""

    new: int = 0
    changed: int = 0
    deleted: int = 0
    failed: int = 0
    unchanged: int = 0
    waiting: int = 0  # changed, left for the next sync (the per-sync limit, or still processing)
    problems: list[str] = field(default_factory=list)

    @property
    def read(self) -> int:
        """Items read this sync."""
        return self.new + self.changed + self.failed


def key_hash(key: str) -> str:
    """The indexed form of an item's key (keys may be long URLs)."""
    return hashlib.sha256(key.encode()).hexdigest()


class Syncer:
    """Runs syncs over the services' database, file store and indexes."""

    def __init__(
        self,
        services: Services,
        intake: Intake,
        interrupts: tuple[type[BaseException], ...] = (),
        kinds: Callable[[str], Kind] = kind,
    ) -> None:
        self.services = services
        self.kinds = kinds  # a test's own kind beside the real ones
        self.settings = services.settings
        self.intake = intake
        self.sealer = Sealer.from_settings(services.settings)
        self.interrupts = interrupts  # stop the sync (the worker's soft time limit), keep its work
        self.lease = timedelta(seconds=self.settings.task_time_limit + 60)

    def run(self, source_id: str, holder: str) -> dict[str, Any] | None:
        """Sync the source unless another sync holds it: the row it leaves, or None."""
        if not self.take(source_id, holder):
            log.info("source %s is being synced already; this sync is skipped", source_id)
            return None
        try:
            return self.sync(source_id, holder)
        finally:
            self.let_go(source_id, holder)

    def take(self, source_id: str, holder: str) -> bool:
        """Lease the source to holder (one conditional UPDATE); False when another holds it."""
        now = utcnow()
        with self.services.db.session() as session:
            taken = session.execute(
                update(Source)
                .where(
                    Source.id == source_id,
                    or_(
                        Source.lock_holder.is_(None),
                        Source.lock_until < now,
                        Source.lock_holder == holder,
                    ),
                )
                .values(lock_holder=holder, lock_until=now + self.lease, started_at=now)
                .execution_options(synchronize_session=False)
            )
            return bool(taken.rowcount)  # type: ignore[attr-defined]

    def renew(self, source_id: str, holder: str) -> None:
        """Extend the lease of a long sync."""
        with self.services.db.session() as session:
            session.execute(
                update(Source)
                .where(Source.id == source_id, Source.lock_holder == holder)
                .values(lock_until=utcnow() + self.lease)
                .execution_options(synchronize_session=False)
            )

    def let_go(self, source_id: str, holder: str) -> None:
        """End holder's lease."""
        with self.services.db.session() as session:
            session.execute(
                update(Source)
                .where(Source.id == source_id, Source.lock_holder == holder)
                .values(lock_holder=None, lock_until=None)
                .execution_options(synchronize_session=False)
            )

    def sync(self, source_id: str, holder: str) -> dict[str, Any] | None:
        """List the source and bring its documents in line; the counts and error it leaves."""
        with self.services.db.session() as session:
            source = session.get(Source, source_id)
            if source is None:
                return None
            known = {
                item.key: (item.version, item.document_id)
                for item in session.scalars(
                    select(SourceItem).where(SourceItem.source_id == source_id)
                )
            }
            collection_id, name = source.collection_id, source.name
            scan = Scan(
                known={key: version for key, (version, _) in known.items()},
                state=dict(source.state or {}),
                folder=self.settings.data_dir / "sources" / source.id,
                max_bytes=self.settings.max_upload_bytes,
            )
            kind_of = self.kinds(source.kind)
            connector = kind_of.make(
                kind_of.settings.model_validate(source.settings), self.sealer.open(source.sealed)
            )
        scan.folder.mkdir(parents=True, exist_ok=True)
        counts, error = Counts(), None
        try:
            seen = self.walk(connector.entries(scan), known, scan, counts, (source_id, holder))
            if scan.complete:
                self.remove_gone(source_id, set(known) - seen, counts)
        except SourceError as exc:
            error = str(exc)
        except self.interrupts:
            scan.complete = False
            error = "the sync ran out of time (GPTU_TASK_TIME_LIMIT); the next sync goes on"
        except Exception as exc:  # a connector's bug or a library's surprise: said, not hidden
            log.exception("sync of source %s (%s) stopped", name, source_id)
            error = f"the sync stopped on an unexpected error ({type(exc).__name__}: {exc})"
        return self.record(source_id, collection_id, scan, counts, error)

    def walk(
        self,
        entries: Any,
        known: dict[str, tuple[str, str | None]],
        scan: Scan,
        counts: Counts,
        lease: tuple[str, str],
    ) -> set[str]:
        """Read the new and changed entries; the keys listed. Their documents are sent to
        the workers in groups (small ones batched, as uploads are), also when the listing
        stops part-way (any left unsent, the API's sweeper sends)."""
        seen: set[str] = set()
        queued: list[str] = []
        source_id, holder = lease
        try:
            for n, entry in enumerate(entries):
                seen.add(entry.key)
                if n % SEND_EVERY == SEND_EVERY - 1:
                    self.renew(source_id, holder)
                    self.send(queued)
                version, document_id = known.get(entry.key, (None, None))
                if version == entry.version and document_id is not None:
                    counts.unchanged += 1
                elif counts.read >= self.settings.source_max_items:
                    counts.waiting += 1
                else:
                    self.take_in(source_id, entry, scan, counts, queued)
        finally:
            self.send(queued)
        return seen

    def send(self, queued: list[str]) -> None:
        """Send the queued documents' tasks (app.intake groups them) and empty the list."""
        if not queued:
            return
        with self.services.db.session() as session:
            docs = session.scalars(
                select(Document).where(Document.id.in_(queued), Document.status == QUEUED)
            ).all()
            self.intake.enqueue_many(session, list(docs))
        queued.clear()

    def take_in(
        self, source_id: str, entry: Entry, scan: Scan, counts: Counts, queued: list[str]
    ) -> None:
        """Read one new or changed entry and store it as a document (in place if it has one)."""
        try:
            if entry.size is not None and entry.size > scan.max_bytes:
                raise ItemError(too_big(entry.label, entry.size, scan.max_bytes))
            data = entry.read()
            if len(data) > scan.max_bytes:
                raise ItemError(too_big(entry.label, len(data), scan.max_bytes))
        except ItemError as exc:
            counts.failed += 1
            counts.problems.append(str(exc))
            return
        stored = self.services.files.put(io.BytesIO(data), scan.max_bytes)
        if stored is None:  # cannot happen after the check above; kept for the type
            return
        sha, size = stored
        try:
            document_id, replaced = self.place(source_id, entry, sha, size, counts)
        finally:
            self.services.files.settle(sha)
        if document_id is not None:
            queued.append(document_id)
        if replaced:
            self.drop_file(replaced)

    def place(
        self, source_id: str, entry: Entry, sha: str, size: int, counts: Counts
    ) -> tuple[str | None, str | None]:
        """Record the entry's content: the id of a document to queue, and a file no longer
        needed (the old version's), if any."""
        label = clean_name(entry.label)
        with self.services.db.session() as session:
            source = session.get(Source, source_id)
            if source is None:
                return None, None
            item = session.scalar(
                select(SourceItem).where(
                    SourceItem.source_id == source_id, SourceItem.key_hash == key_hash(entry.key)
                )
            )
            doc = None
            if item is not None and item.document_id is not None:
                doc = session.get(Document, item.document_id)
            old_sha = None
            if doc is not None and (doc.sha256, doc.filename, doc.parse_as) == (
                sha, label, entry.parse_as,
            ):  # fmt: skip
                counts.unchanged += 1  # same bytes under a new version (a touched file)
            elif doc is not None and doc.status == PROCESSING:
                counts.waiting += 1  # read again next sync, once this version is indexed
                return None, None
            elif doc is not None:
                old_sha = doc.sha256 if doc.sha256 != sha else None
                doc.sha256, doc.size, doc.filename, doc.parse_as = sha, size, label, entry.parse_as
                self.requeue(doc)
                counts.changed += 1
            else:
                doc = Document(
                    collection_id=source.collection_id, filename=label, parse_as=entry.parse_as,
                    sha256=sha, size=size, uploaded_by=f"source:{source.name}"[:64],
                )  # fmt: skip
                self.requeue(doc)
                session.add(doc)
                session.flush()
                counts.new += 1
            if item is None:
                item = SourceItem(source_id=source_id, key_hash=key_hash(entry.key), key=entry.key)
                session.add(item)
            item.version, item.document_id = entry.version, doc.id
            queued = doc.id if doc.status == QUEUED else None
        return queued, old_sha

    @staticmethod
    def requeue(doc: Document) -> None:
        """Queue the document's (new) content, or fail it when its type cannot be read.
        Marked sent already, as an upload is (app.intake): the sweeper leaves it to `send`
        unless that fails, which marks it unsent again."""
        doc.error, doc.attempts, doc.stage, doc.progress = None, 0, None, None
        doc.enqueued_at, doc.claimed_by = None, None
        if is_supported(doc.parse_name):
            doc.status, doc.enqueued_at = QUEUED, utcnow()
        else:
            shown = extension(doc.parse_name) or "(no extension)"
            doc.status = FAILED
            doc.error = f"unsupported file type {shown}; gptu reads {supported_list()}"

    def drop_file(self, sha: str) -> None:
        """Delete a stored file unless a document still holds its bytes."""
        with self.services.db.session() as session:
            used = select(Document.id).where(Document.sha256 == sha).limit(1)
            self.services.files.delete_unused(sha, lambda: session.scalar(used) is not None)

    def remove_gone(self, source_id: str, keys: set[str], counts: Counts) -> None:
        """Delete the documents (and items) of keys the source no longer lists."""
        hashes = [key_hash(key) for key in keys]
        for start in range(0, len(hashes), 500):
            with self.services.db.session() as session:
                items = session.scalars(
                    select(SourceItem).where(
                        SourceItem.source_id == source_id,
                        SourceItem.key_hash.in_(hashes[start : start + 500]),
                    )
                ).all()
                for item in items:
                    doc = session.get(Document, item.document_id) if item.document_id else None
                    session.delete(item)
                    session.commit()
                    if doc is not None:
                        self.intake.delete(session, doc)
                    counts.deleted += 1

    def record(
        self, source_id: str, collection_id: str, scan: Scan, counts: Counts, error: str | None
    ) -> dict[str, Any] | None:
        """Write the sync's outcome on the source's row; the row's public fields."""
        now = utcnow()
        with self.services.db.session() as session:
            source = session.get(Source, source_id)
            if source is None or session.get(Collection, collection_id) is None:
                return None
            shown = counts.problems[:SHOWN_PROBLEMS]
            more = len(counts.problems) - len(shown)
            problems = shown + ([f"and {more} more"] if more else [])
            source.counts = {
                **{k: v for k, v in asdict(counts).items() if k != "problems"},
                "notes": scan.notes + problems,
            }
            source.error = error
            source.synced_at = now
            wait = timedelta(minutes=source.interval_minutes)
            source.next_at = now + (min(wait, RETRY_AFTER_ERROR) if error else wait)
            if error is None:
                source.state = scan.state
            log.info("source %s synced: %s%s", source.name, source.counts,
                     f"; error: {error}" if error else "")  # fmt: skip
            return {"name": source.name, "counts": source.counts, "error": error}
