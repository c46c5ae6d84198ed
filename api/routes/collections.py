"""Collections: named sets of documents."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.deps import IntakeDep, ServicesDep, SessionDep
from api.schemas import CollectionIn, CollectionOut, DeletedOut, aware
from core.db import Collection, Document
from core.errors import Conflict, NotFound

router = APIRouter(prefix="/v1/collections", tags=["collections"])


def find_collection(session: Session, name: str) -> Collection:
    """The collection called name, or 404."""
    found = session.scalar(select(Collection).where(Collection.name == name))
    if found is None:
        raise NotFound(f"collection {name!r} does not exist")
    return found


def collection_out(session: Session, collection: Collection) -> CollectionOut:
    """The public view of a collection."""
    count = session.scalar(
        select(func.count()).select_from(Document).where(Document.collection_id == collection.id)
    )
    return CollectionOut(
        name=collection.name,
        embedder=collection.embedder,
        readers=collection.readers,
        writers=collection.writers,
        documents=int(count or 0),
        created_at=aware(collection.created_at),
    )


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_collection(
    body: CollectionIn, session: SessionDep, services: ServicesDep
) -> CollectionOut:
    """Create a collection embedded with the running embedder."""
    if session.scalar(select(Collection).where(Collection.name == body.name)) is not None:
        raise Conflict(f"collection {body.name!r} already exists")
    collection = Collection(
        name=body.name, embedder=services.embedder.id, readers=body.readers, writers=body.writers
    )
    session.add(collection)
    session.commit()
    return collection_out(session, collection)


@router.get("")
async def list_collections(session: SessionDep) -> list[CollectionOut]:
    """Every collection, by name."""
    collections = session.scalars(select(Collection).order_by(Collection.name)).all()
    return [collection_out(session, c) for c in collections]


@router.delete("/{name}")
async def delete_collection(name: str, session: SessionDep, intake: IntakeDep) -> DeletedOut:
    """Delete a collection with all its documents, chunks and files."""
    collection = find_collection(session, name)
    docs = session.scalars(select(Document).where(Document.collection_id == collection.id)).all()
    for doc in docs:
        await run_in_threadpool(intake.delete, session, doc)
    await run_in_threadpool(intake.services.vectors.drop_collection, collection.name)
    session.delete(collection)
    session.commit()
    return DeletedOut(id=collection.id)
