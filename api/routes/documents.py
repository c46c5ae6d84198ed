"""Documents: upload, list, inspect and delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile, status
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from api.deps import IntakeDep, SessionDep
from api.intake import Upload
from api.routes.collections import find_collection
from api.schemas import AcceptedOut, DeletedOut, DocumentOut
from core.db import STATES, Collection, Document
from core.errors import InvalidRequest, NotFound

router = APIRouter(prefix="/v1/documents", tags=["documents"])
MAX_FILES = 1000


@router.post("", status_code=status.HTTP_202_ACCEPTED)
async def upload_documents(
    file: Annotated[list[UploadFile], File(description="One or more files.")],
    collection: Annotated[str, Form(description="Target collection name.")],
    session: SessionDep,
    intake: IntakeDep,
) -> list[AcceptedOut]:
    """Store the files and queue them for ingestion; 413 (nothing kept) if one is too large."""
    if len(file) > MAX_FILES:
        raise InvalidRequest(f"at most {MAX_FILES} files per request")
    target = find_collection(session, collection)
    uploads = [Upload(f.filename or "unnamed", f.file, f.size) for f in file]
    docs = await run_in_threadpool(intake.accept, session, target, uploads)
    return [AcceptedOut(id=d.id, filename=d.filename, status=d.status, error=d.error) for d in docs]


@router.get("")
async def list_documents(
    session: SessionDep,
    collection: str | None = None,
    status: Annotated[str | None, Query(description="queued, processing, ready or failed")] = None,
) -> list[DocumentOut]:
    """Documents, newest first, optionally of one collection and in one state."""
    query = select(Document, Collection.name).join(Collection)
    if collection is not None:
        query = query.where(Document.collection_id == find_collection(session, collection).id)
    if status is not None:
        if status not in STATES:
            raise InvalidRequest(f"status must be one of {', '.join(STATES)}")
        query = query.where(Document.status == status)
    rows = session.execute(query.order_by(Document.created_at.desc(), Document.id)).all()
    return [DocumentOut.of(doc, name) for doc, name in rows]


def find_document(session: SessionDep, document_id: str) -> tuple[Document, str]:
    """The document and its collection's name, or 404."""
    row = session.execute(
        select(Document, Collection.name).join(Collection).where(Document.id == document_id)
    ).first()
    if row is None:
        raise NotFound(f"document {document_id!r} does not exist")
    return row[0], row[1]


@router.get("/{document_id}")
async def get_document(document_id: str, session: SessionDep) -> DocumentOut:
    """One document and its state."""
    doc, name = find_document(session, document_id)
    return DocumentOut.of(doc, name)


@router.delete("/{document_id}")
async def delete_document(document_id: str, session: SessionDep, intake: IntakeDep) -> DeletedOut:
    """Delete a document; its chunks leave both indexes before this returns."""
    doc, _ = find_document(session, document_id)
    await run_in_threadpool(intake.delete, session, doc)
    return DeletedOut(id=document_id)
