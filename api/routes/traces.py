"""Traces: why an answer came out as it did (admins: all; everyone: their own)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from api.account_schemas import TraceOut
from api.auth import CurrentUser
from api.deps import SessionDep
from api.schemas import aware
from core.db import User
from core.errors import NotFound
from core.records import Feedback, Trace

router = APIRouter(prefix="/v1/traces", tags=["traces"])


def trace_out(trace: Trace, feedback: Feedback | None) -> TraceOut:
    """A trace row as the API shows it."""
    return TraceOut(
        id=trace.id, request_id=trace.request_id, user=trace.user_name, surface=trace.surface,
        question=trace.question, search_query=trace.search_query,
        collections=trace.collections, passages=trace.passages,
        prompt_tokens=trace.prompt_tokens, answer_tokens=trace.answer_tokens, model=trace.model,
        variant=trace.variant, grounded=trace.grounded, answer=trace.answer,
        citations=trace.citations, checks=trace.checks or {},
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
    return [trace_out(t, f) for t, f in session.execute(query).tuples()]


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
    return trace_out(row[0], row[1])
