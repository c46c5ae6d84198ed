"""Which collections a caller may see, read, write or manage: answers or 404/403 errors."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.accounts import Caller, readable
from core.db import Collection, Document
from core.errors import NotFound, PermissionDenied


def visible_collection(session: Session, caller: Caller, name: str) -> Collection:
    """The collection if the caller may read, write or manage it; otherwise 404, as if it did
    not exist. (An owner who granted it only to others still sees it, to change its access.)"""
    found = session.scalar(select(Collection).where(Collection.name == name))
    if found is None or not caller.can_see(found):
        raise NotFound(f"collection {name!r} does not exist")
    return found


def readable_collections(session: Session, caller: Caller, asked: list[str] | None) -> list[str]:
    """The collections to search: those asked for (each readable), else every readable one."""
    if asked is None:
        return [c.name for c in readable(session, caller)]
    names = []
    for name in dict.fromkeys(asked):
        collection = visible_collection(session, caller, name)
        if not caller.can_read(collection):
            raise PermissionDenied(f"you may not read {name!r}")
        names.append(collection.name)
    return names


def writable_collection(session: Session, caller: Caller, name: str) -> Collection:
    """The collection if the caller may add documents to it (404 unseen, 403 read-only)."""
    collection = visible_collection(session, caller, name)
    if not caller.can_write(collection):
        raise PermissionDenied(f"you may not add or delete documents in {name!r}")
    return collection


def managed_collection(session: Session, caller: Caller, name: str) -> Collection:
    """The collection if the caller owns it or is an admin (404 unseen, 403 otherwise)."""
    collection = visible_collection(session, caller, name)
    if not caller.can_manage(collection):
        raise PermissionDenied(f"only the owner of {name!r} or an admin may change or delete it")
    return collection


def readable_documents(session: Session, caller: Caller, document_ids: set[str]) -> set[str]:
    """Those of these documents that still exist in a collection the caller may read now."""
    rows = session.execute(
        select(Document.id, Collection).join(Collection).where(Document.id.in_(document_ids))
    ).tuples()
    return {doc_id for doc_id, collection in rows if caller.can_read(collection)}
