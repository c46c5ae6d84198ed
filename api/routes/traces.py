"""Traces: why an answer came out as it did (admins: all; everyone: their own)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.account_schemas import TraceOut
from api.auth import CurrentUser
from api.deps import SessionDep
from api.schemas import aware
from core.access import readable_documents
from core.accounts import Caller
from core.db import User
from core.errors import NotFound
from core.records import Feedback, Trace
from core.scoring import abstained

router = APIRouter(prefix="/v1/traces", tags=["traces"])


def trace_out(trace: Trace, feedback: Feedback | None, readable: set[str] | None) -> TraceOut:
    """A trace row as the API shows it; with `readable` (a non-admin's documents), passages
    of other documents are left out, and then the answer too, since it may repeat them."""
    passages = trace.passages
    if readable is not None:
        passages = [p for p in trace.passages if p.get("document_id") in readable]
    withheld = len(passages) < len(trace.passages) and not abstained(trace.answer)
    checks = dict(trace.checks or {})
    if len(passages) < len(trace.passages):  # quotes are passages' text too
        kept = {p.get("n") for p in passages}
        checks["quote"] = [q for q in checks.get("quote", []) if q.get("n") in kept]
    return TraceOut(
        id=trace.id, request_id=trace.request_id, user=trace.user_name, surface=trace.surface,
        question=trace.question, search_query=trace.search_query,
        collections=trace.collections, passages=passages,
        prompt_tokens=trace.prompt_tokens, answer_tokens=trace.answer_tokens, model=trace.model,
        variant=trace.variant, grounded=trace.grounded, answer="" if withheld else trace.answer,
        withheld=withheld, citations=[] if withheld else trace.citations,
        checks=checks,
        first_token_ms=trace.first_token_ms, total_ms=trace.total_ms,
        tokens_per_s=trace.tokens_per_s, rating=feedback.rating if feedback else None,
        comment=feedback.comment if feedback else None, created_at=aware(trace.created_at),
    )  # fmt: skip


@router.get("")
def list_traces(
    caller: CurrentUser,
    session: SessionDep,
    user: str | None = None,
    surface: str | None = None,
    variant: str | None = None,
    request_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[TraceOut]:
    """Newest traces first; admins see everyone's, others their own.

    An admin's `user` filter finds the traces of the user who has that name now, not those of
    a deleted user who had it before.
    """
    query = (
        select(Trace, Feedback)
        .outerjoin(Feedback, Feedback.trace_id == Trace.id)
        .order_by(Trace.created_at.desc())
        .limit(limit)
    )
    if not caller.admin:
        query = query.where(Trace.user_id == caller.user_id)
    elif user is not None:
        named = select(User.id).where(User.name == user).scalar_subquery()
        query = query.where(Trace.user_id == named)
    for column, value in ((Trace.surface, surface), (Trace.variant, variant),
                          (Trace.request_id, request_id)):  # fmt: skip
        if value is not None:
            query = query.where(column == value)
    rows = list(session.execute(query).tuples())
    readable = readable_of(session, caller, [t for t, _ in rows])
    return [trace_out(t, f, readable) for t, f in rows]


def readable_of(session: Session, caller: Caller, traces: list[Trace]) -> set[str] | None:
    """The documents of these traces' passages that a non-admin may still read (None: all)."""
    if caller.admin:
        return None
    ids = {str(p.get("document_id")) for t in traces for p in t.passages}
    return readable_documents(session, caller, ids)


@router.get("/{trace_id}")
def get_trace(trace_id: str, caller: CurrentUser, session: SessionDep) -> TraceOut:
    """One trace: an admin's, or your own (404 otherwise)."""
    row = session.execute(
        select(Trace, Feedback)
        .outerjoin(Feedback, Feedback.trace_id == Trace.id)
        .where(Trace.id == trace_id)
    ).first()
    if row is None or not (caller.admin or row[0].user_id == caller.user_id):
        raise NotFound(f"trace {trace_id!r} does not exist")
    return trace_out(row[0], row[1], readable_of(session, caller, [row[0]]))
