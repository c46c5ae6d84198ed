"""Adding, listing, changing and removing sources; who may (admins, the collection's owner).

Secrets are sealed (core.secrets) as they arrive and never come back out: a source's public
form names which secrets are set, not their values.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.intake import Intake
from core.access import managed_collection
from core.accounts import NAME, Caller, audit
from core.db import Collection, Document, Source, SourceItem, utcnow
from core.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from core.secrets import Sealer, SecretsUnreadable
from core.settings import Settings
from sources.base import Kind
from sources.kinds import kind


def checked_settings(found: Kind, given: dict[str, Any], caller: Caller) -> dict[str, Any]:
    """The kind's settings, validated, as stored (JSON); InvalidRequest saying what is wrong,
    PermissionDenied when they read the server's disk and the caller is no admin."""
    try:
        parsed = found.settings.model_validate(given)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise InvalidRequest(f"{found.name} source settings: {problems}") from None
    if (found.admin_only or parsed.reads_server_disk()) and not caller.admin:
        raise PermissionDenied(
            f"only an admin may add a {found.name} source that reads the server's own disk"
        )
    stored: dict[str, Any] = parsed.model_dump(mode="json", exclude_defaults=True)
    return stored


def checked_secrets(found: Kind, given: dict[str, str]) -> dict[str, str]:
    """The given secrets, each one the kind knows (empty values dropped)."""
    unknown = sorted(set(given) - set(found.secrets))
    if unknown:
        allowed = ", ".join(found.secrets) or "none"
        raise InvalidRequest(f"{found.name} sources take no secret {unknown[0]!r} ({allowed})")
    return {name: value for name, value in given.items() if value}


def add(
    session: Session,
    sealer: Sealer,
    caller: Caller,
    name: str,
    kind_name: str,
    collection: str,
    settings: dict[str, Any],
    secrets: dict[str, str],
    interval_minutes: int,
) -> Source:
    """A new source syncing into collection (whose owner or an admin adds it), due now."""
    if not NAME.match(name):
        raise InvalidRequest("a source's name is 1-64 lower-case letters, digits, _ . -")
    found = kind(kind_name)
    stored = checked_settings(found, settings, caller)
    target = managed_collection(session, caller, collection)
    if session.scalar(select(Source.id).where(Source.name == name)) is not None:
        raise Conflict(f"a source named {name!r} exists already")
    values = checked_secrets(found, secrets)
    source = Source(
        name=name, kind=found.name, collection_id=target.id,
        settings=stored,
        sealed=sealer.seal(values) if values else None,
        interval_minutes=interval_minutes, created_by=caller.name, state={}, counts={},
        next_at=utcnow(),
    )  # fmt: skip
    session.add(source)
    audit(session, caller.name, "source.add", name, kind=found.name, collection=collection,
          secrets=sorted(values))  # fmt: skip
    session.commit()
    return source


def visible(session: Session, caller: Caller) -> list[tuple[Source, Collection]]:
    """The sources the caller may manage (every one for an admin), by name."""
    rows = session.execute(
        select(Source, Collection).join(Collection).order_by(Source.name)
    ).tuples()
    return [(source, coll) for source, coll in rows if caller.can_manage(coll)]


def find(session: Session, caller: Caller, name: str) -> tuple[Source, Collection]:
    """The source if the caller may manage it; 404 otherwise (as if it did not exist)."""
    row = session.execute(
        select(Source, Collection).join(Collection).where(Source.name == name)
    ).first()
    if row is None or not caller.can_manage(row[1]):
        raise NotFound(f"source {name!r} does not exist")
    return row[0], row[1]


def change(
    session: Session,
    sealer: Sealer,
    caller: Caller,
    name: str,
    changes: dict[str, Any],
) -> Source:
    """Change a source's settings (replaced whole), secrets (those given replace theirs; an
    empty value removes one), interval or enabled flag."""
    source, _ = find(session, caller, name)
    found = kind(source.kind)
    if changes.get("settings") is not None:
        source.settings = checked_settings(found, changes["settings"], caller)
    if changes.get("secrets") is not None:
        checked_secrets(found, changes["secrets"])
        merged = {**sealer.open(source.sealed), **changes["secrets"]}
        merged = {key: value for key, value in merged.items() if value}
        source.sealed = sealer.seal(merged) if merged else None
    if changes.get("interval_minutes") is not None:
        source.interval_minutes = int(changes["interval_minutes"])
    if changes.get("enabled") is not None:
        source.enabled = bool(changes["enabled"])
    audit(session, caller.name, "source.change", name, fields=sorted(k for k, v in changes.items()
          if v is not None))  # fmt: skip
    session.commit()
    return source


def due_now(session: Session, caller: Caller, name: str) -> Source:
    """Mark the source due at once (`sync now`)."""
    source, _ = find(session, caller, name)
    source.next_at = utcnow()
    audit(session, caller.name, "source.sync", name)
    session.commit()
    return source


def remove(session: Session, intake: Intake, settings: Settings, caller: Caller, name: str) -> int:
    """Delete the source, its documents (their chunks first) and its folder; how many
    documents went."""
    source, _ = find(session, caller, name)
    doc_ids = session.scalars(
        select(SourceItem.document_id).where(
            SourceItem.source_id == source.id, SourceItem.document_id.is_not(None)
        )
    ).all()
    removed = 0
    for doc_id in doc_ids:
        doc = session.get(Document, doc_id)
        if doc is not None:
            intake.delete(session, doc)
            removed += 1
    source_id = source.id
    audit(session, caller.name, "source.remove", name, documents=removed)
    session.delete(source)
    session.commit()
    shutil.rmtree(settings.data_dir / "sources" / source_id, ignore_errors=True)
    return removed


def public(
    session: Session, sealer: Sealer, source: Source, collection: Collection
) -> dict[str, Any]:
    """What the API and the CLI show of a source: never its secrets' values."""
    documents = session.scalar(
        select(func.count(SourceItem.id)).where(
            SourceItem.source_id == source.id, SourceItem.document_id.is_not(None)
        )
    )
    now = utcnow()
    syncing = source.lock_holder is not None and (
        source.lock_until is None or aware(source.lock_until) > now
    )
    return {
        "name": source.name,
        "kind": source.kind,
        "collection": collection.name,
        "settings": source.settings,
        "secrets": secret_names(sealer, source),
        "interval_minutes": source.interval_minutes,
        "enabled": source.enabled,
        "syncing": syncing,
        "last_sync": source.synced_at,
        "next_sync": source.next_at if source.enabled else None,
        "counts": source.counts or {},
        "error": source.error,
        "documents": int(documents or 0),
        "created_by": source.created_by,
        "created_at": source.created_at,
    }


def secret_names(sealer: Sealer, source: Source) -> list[str]:
    """The names of the secrets set (their values never leave the server)."""
    try:
        return sorted(sealer.open(source.sealed))
    except SecretsUnreadable:
        return ["(unreadable with this server's key)"]


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes: they are UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
