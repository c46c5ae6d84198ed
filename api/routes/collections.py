"""Collections: named sets of documents, readable and writable by groups."""

from __future__ import annotations

from fastapi import APIRouter, status
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.auth import CurrentUser
from api.deps import IntakeDep, ServicesDep, SessionDep
from api.schemas import (
    AccessOut,
    CollectionAccessIn,
    CollectionIn,
    CollectionOut,
    DeletedOut,
    aware,
)
from core.access import managed_collection, visible_collection
from core.accounts import PERSONAL, Caller, audit, check_grants
from core.db import Collection, Document
from core.errors import Conflict

router = APIRouter(prefix="/v1/collections", tags=["collections"])


def collection_out(session: Session, caller: Caller, collection: Collection) -> CollectionOut:
    """The caller's view: counts only for those who may read it; grants also for its owner."""
    readable = caller.can_read(collection)
    shown = readable or caller.can_manage(collection)
    count = session.scalar(
        select(func.count()).select_from(Document).where(Document.collection_id == collection.id)
    )
    return CollectionOut(
        name=collection.name,
        embedder=collection.embedder,
        readers=collection.readers if shown else [],
        writers=collection.writers if shown else [],
        owner=collection.owner if shown else None,
        documents=int(count or 0) if readable else None,
        access=AccessOut(
            read=readable, write=caller.can_write(collection), manage=caller.can_manage(collection)
        ),
        created_at=aware(collection.created_at),
    )


@router.post("", status_code=status.HTTP_201_CREATED)
def create_collection(
    body: CollectionIn, caller: CurrentUser, session: SessionDep, services: ServicesDep
) -> CollectionOut:
    """Create a collection you own; readers and writers default to just you (`user:<you>`)."""
    if session.scalar(select(Collection).where(Collection.name == body.name)) is not None:
        raise Conflict(f"collection {body.name!r} already exists")
    personal = [PERSONAL + caller.name]
    collection = Collection(
        name=body.name,
        embedder=services.embedders.default_id,
        readers=check_grants(session, body.readers if body.readers is not None else personal),
        writers=check_grants(session, body.writers if body.writers is not None else personal),
        owner=caller.name,
        owner_id=caller.user_id,
    )
    session.add(collection)
    audit(session, caller.name, "collection.create", body.name,
          readers=collection.readers, writers=collection.writers)  # fmt: skip
    session.commit()
    return collection_out(session, caller, collection)


@router.get("")
def list_collections(caller: CurrentUser, session: SessionDep) -> list[CollectionOut]:
    """The collections you may read, add to or manage, by name."""
    every = session.scalars(select(Collection).order_by(Collection.name)).all()
    mine = [c for c in every if caller.can_see(c)]
    return [collection_out(session, caller, c) for c in mine]


@router.get("/{name}")
def get_collection(name: str, caller: CurrentUser, session: SessionDep) -> CollectionOut:
    """One collection you may read, add to or manage."""
    return collection_out(session, caller, visible_collection(session, caller, name))


@router.patch("/{name}")
def change_access(
    name: str, body: CollectionAccessIn, caller: CurrentUser, session: SessionDep
) -> CollectionOut:
    """Change who may read and write a collection (its owner or an admin)."""
    collection = managed_collection(session, caller, name)
    before = {"readers": collection.readers, "writers": collection.writers}
    if body.readers is not None:
        collection.readers = check_grants(session, body.readers)
    if body.writers is not None:
        collection.writers = check_grants(session, body.writers)
    audit(session, caller.name, "collection.access", name, before=before,
          readers=collection.readers, writers=collection.writers)  # fmt: skip
    session.commit()
    return collection_out(session, caller, collection)


@router.delete("/{name}")
def delete_collection(
    name: str, caller: CurrentUser, session: SessionDep, intake: IntakeDep
) -> DeletedOut:
    """Delete a collection with all its documents, chunks and files (its owner or an admin)."""
    collection = managed_collection(session, caller, name)
    docs = session.scalars(select(Document).where(Document.collection_id == collection.id)).all()
    for doc in docs:
        intake.delete(session, doc)
    intake.services.vectors.drop_collection(collection.name)
    session.delete(collection)
    audit(session, caller.name, "collection.delete", name, documents=len(docs))
    session.commit()
    return DeletedOut(id=collection.id)
