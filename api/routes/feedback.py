"""Feedback: 👍/👎 and a comment on one of your own answers."""

from __future__ import annotations

from fastapi import APIRouter, status

from answer.tracing import rate
from api.account_schemas import FeedbackIn, FeedbackOut
from api.auth import CurrentUser
from api.deps import SessionDep

router = APIRouter(prefix="/v1", tags=["feedback"])


@router.post("/feedback", status_code=status.HTTP_201_CREATED)
def feedback(body: FeedbackIn, caller: CurrentUser, session: SessionDep) -> FeedbackOut:
    """Rate one of your answers (1 or -1), optionally with a comment."""
    stored = rate(session, caller, body.trace_id, body.rating, body.comment, "api")
    session.commit()
    return FeedbackOut(id=stored.id, trace_id=stored.trace_id, rating=stored.rating)
