"""Feedback: 👍/👎 and a comment on one of your own answers."""

from __future__ import annotations

from fastapi import APIRouter, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.account_schemas import FeedbackIn, FeedbackOut
from api.auth import CurrentUser
from api.deps import SessionDep
from core.errors import NotFound
from core.records import Feedback, Trace

router = APIRouter(prefix="/v1", tags=["feedback"])


def rate(
    session: Session, user: str, trace_id: str, rating: int, comment: str | None, surface: str
) -> Feedback:
    """Store (or replace) the user's rating of their answer; 404 for anyone else's trace."""
    trace = session.get(Trace, trace_id)
    if trace is None or trace.user_name != user:
        raise NotFound(f"trace {trace_id!r} does not exist")
    found = session.scalar(
        select(Feedback).where(Feedback.trace_id == trace_id, Feedback.user_name == user)
    )
    feedback = found or Feedback(trace_id=trace_id, user_name=user)
    feedback.rating, feedback.comment, feedback.surface = rating, comment, surface
    session.add(feedback)
    session.flush()
    return feedback


@router.post("/feedback", status_code=status.HTTP_201_CREATED)
async def feedback(body: FeedbackIn, caller: CurrentUser, session: SessionDep) -> FeedbackOut:
    """Rate one of your answers (1 or -1), optionally with a comment."""
    stored = rate(session, caller.name, body.trace_id, body.rating, body.comment, "api")
    session.commit()
    return FeedbackOut(id=stored.id, trace_id=stored.trace_id, rating=stored.rating)
