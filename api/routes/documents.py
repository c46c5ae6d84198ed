"""Documents: upload, list, inspect, download and delete, as the calling user may."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import FileResponse
from sqlalchemy import ColumnElement, func, or_, select, true
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from api.auth import CurrentUser
from api.deps import IntakeDep, ServicesDep, SessionDep
from api.schemas import AcceptedOut, DeletedOut, DocumentOut, SummaryOut
from app.intake import Upload
from core.access import visible_collection, writable_collection
from core.accounts import Caller, audit, readable
from core.db import PROCESSING, QUEUED, STATES, Collection, Document
from core.errors import InvalidRequest, NotFound, PermissionDenied

router = APIRouter(prefix="/v1/documents", tags=["documents"])
MAX_FILES = 1000
MAX_FIELDS = 10


# The form the upload route reads itself (after the key is checked), as OpenAPI shows it.
UPLOAD_FORM: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "collection"],
                    "properties": {
                        "file": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "One or more files.",
                        },
                        "collection": {"type": "string", "description": "Target collection name."},
                    },
                }
            }
        },
    }
}


async def upload_form(request: Request, caller: CurrentUser) -> AsyncIterator[FormData]:
    """The upload's form, read only once the caller's key is known (a request with no valid key
    is refused before a byte of its body is read; the body's size is capped by api.limits)."""
    form = await request.form(max_files=MAX_FILES, max_fields=MAX_FIELDS)
    try:
        yield form
    finally:
        await form.close()


UploadForm = Annotated[FormData, Depends(upload_form)]


@router.post("", status_code=status.HTTP_202_ACCEPTED, openapi_extra=UPLOAD_FORM)
def upload_documents(
    form: UploadForm, caller: CurrentUser, session: SessionDep, intake: IntakeDep
) -> list[AcceptedOut]:
    """Store the files and queue them for ingestion; 413 (nothing kept) if one is too large.
    Multipart form: `file` (repeatable) and `collection`."""
    files = [part for part in form.getlist("file") if isinstance(part, UploadFile)]
    collection = form.get("collection")
    if not isinstance(collection, str) or not collection.strip():
        raise InvalidRequest("name the target collection in the form field 'collection'")
    if not files:
        raise InvalidRequest("send at least one file in the form field 'file'")
    target = writable_collection(session, caller, collection)
    uploads = [Upload(f.filename or "unnamed", f.file, f.size) for f in files]
    docs = intake.accept(session, target, uploads, caller)
    return [AcceptedOut(id=d.id, filename=d.filename, status=d.status, error=d.error) for d in docs]


def visible_to(session: Session, caller: Caller) -> ColumnElement[bool]:
    """SQL condition: documents of collections the caller reads, plus the caller's uploads."""
    if caller.admin:
        return true()
    ids = [c.id for c in readable(session, caller)]
    return or_(Document.collection_id.in_(ids), Document.uploaded_by_id == caller.user_id)


@router.get("")
def list_documents(
    caller: CurrentUser,
    session: SessionDep,
    collection: str | None = None,
    status: Annotated[str | None, Query(description="queued, processing, ready or failed")] = None,
    limit: Annotated[int | None, Query(ge=1, le=10_000, description="At most this many.")] = None,
) -> list[DocumentOut]:
    """Documents you may see, newest first, optionally of one collection and in one state."""
    query = select(Document, Collection.name).join(Collection)
    query = query.where(documents_of(session, caller, collection, status))
    query = query.order_by(Document.created_at.desc(), Document.id).limit(limit)
    return [DocumentOut.of(doc, name) for doc, name in session.execute(query).all()]


@router.get("/summary")
def summarise_documents(
    caller: CurrentUser, session: SessionDep, collection: str | None = None
) -> SummaryOut:
    """How many of the documents you may see (optionally of one collection) are in each state,
    and the bytes still to be read: what the upload page shows, and its time left from."""
    query = select(Document.status, func.count(), func.coalesce(func.sum(Document.size), 0))
    query = query.where(documents_of(session, caller, collection, None)).group_by(Document.status)
    counts = {state: (0, 0) for state in STATES}
    counts.update({state: (n, size) for state, n, size in session.execute(query).all()})
    return SummaryOut(
        **{state: counts[state][0] for state in STATES},
        bytes_waiting=counts[QUEUED][1] + counts[PROCESSING][1],
    )


def documents_of(
    session: Session, caller: Caller, collection: str | None, status: str | None
) -> ColumnElement[bool]:
    """SQL condition: documents the caller may see, of one collection and state if given."""
    condition = visible_to(session, caller)
    if collection is not None:
        condition = condition & (
            Document.collection_id == visible_collection(session, caller, collection).id
        )
    if status is not None:
        if status not in STATES:
            raise InvalidRequest(f"status must be one of {', '.join(STATES)}")
        condition = condition & (Document.status == status)
    return condition


def find_document(session: Session, caller: Caller, document_id: str) -> tuple[Document, str]:
    """The document and its collection's name if the caller may see it, or 404."""
    row = session.execute(
        select(Document, Collection.name)
        .join(Collection)
        .where(Document.id == document_id, visible_to(session, caller))
    ).first()
    if row is None:
        raise NotFound(f"document {document_id!r} does not exist")
    return row[0], row[1]


@router.get("/{document_id}")
def get_document(document_id: str, caller: CurrentUser, session: SessionDep) -> DocumentOut:
    """One document and its state."""
    doc, name = find_document(session, caller, document_id)
    return DocumentOut.of(doc, name)


@router.get("/{document_id}/file", response_class=FileResponse)
def download_document(
    document_id: str, caller: CurrentUser, session: SessionDep, services: ServicesDep
) -> FileResponse:
    """The stored file, under the name it was uploaded with."""
    doc, _ = find_document(session, caller, document_id)
    if not services.files.exists(doc.sha256):
        raise NotFound(f"the file of document {document_id!r} is no longer stored")
    path = services.files.local(doc.sha256)
    return FileResponse(path, filename=doc.filename, media_type="application/octet-stream")


@router.delete("/{document_id}")
def delete_document(
    document_id: str, caller: CurrentUser, session: SessionDep, intake: IntakeDep
) -> DeletedOut:
    """Delete a document; its chunks leave both indexes before this returns."""
    doc, name = find_document(session, caller, document_id)
    collection = session.get(Collection, doc.collection_id)
    if collection is None or not caller.can_write(collection):
        raise PermissionDenied(f"you may read {name!r} but not delete its documents")
    audit(session, caller.name, "document.delete", name, document_id=doc.id, filename=doc.filename)
    intake.delete(session, doc)
    return DeletedOut(id=document_id)


@router.post("/{document_id}/retry", status_code=status.HTTP_202_ACCEPTED)
def retry_document(
    document_id: str, caller: CurrentUser, session: SessionDep, intake: IntakeDep
) -> DocumentOut:
    """Queue a failed document again from its stored file (after a fix, or after installing
    what it needed), without uploading it again; 409 unless it failed."""
    doc, name = find_document(session, caller, document_id)
    collection = session.get(Collection, doc.collection_id)
    if collection is None or not caller.can_write(collection):
        raise PermissionDenied(f"you may read {name!r} but not retry its documents")
    intake.retry(session, doc, name, caller)
    return DocumentOut.of(doc, name)
