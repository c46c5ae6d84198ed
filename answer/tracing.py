"""Traces: every answer is recorded with its retrieval, prompt size, timings and citations."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from answer.check import verified
from answer.rag import Plan, checked, citations
from core.accounts import Caller
from core.db import Database, new_id
from core.errors import NotFound
from core.logs import request_id
from core.records import Feedback, Trace

log = logging.getLogger("gptu.answers")


class AnswerMetrics(Protocol):
    """Where finished answers are counted (the API's Prometheus metrics)."""

    def observe_answer(
        self,
        surface: str,
        variant: str | None,
        grounded: bool,
        first_token_s: float | None,
        tokens_per_s: float | None,
    ) -> None:
        """Count one answer."""
        ...


@dataclass
class Draft:
    """A trace being written while its answer is produced."""

    caller: Caller
    surface: str
    collections: list[str]
    plan: Plan | None = None
    id: str = field(default_factory=new_id)
    request_id: str | None = field(default_factory=request_id.get)
    started: float = field(default_factory=time.perf_counter)
    first_token: float | None = None

    def token_arrived(self) -> None:
        """Note the time of the first answer token."""
        if self.first_token is None:
            self.first_token = time.perf_counter()


class Tracer:
    """Stores finished answers as traces and counts them in the metrics."""

    def __init__(self, db: Database, metrics: AnswerMetrics | None = None) -> None:
        self.db = db
        self.metrics = metrics

    def finish(self, draft: Draft, answer: str, answer_tokens: int) -> tuple[str, str]:
        """Check the answer's citations, store the trace; (trace id, checked answer)."""
        plan = draft.plan
        assert plan is not None
        total = time.perf_counter() - draft.started
        answer, invented, against = verified(answer, plan)
        answer, wrong = checked(answer, plan.passages)
        first = None if draft.first_token is None else draft.first_token - draft.started
        generating = total - (first or 0)
        speed = answer_tokens / generating if plan.grounded and generating > 0 else None
        with self.db.session() as session:
            session.add(
                Trace(
                    id=draft.id, request_id=draft.request_id, user_name=draft.caller.name,
                    user_id=draft.caller.user_id, surface=draft.surface, question=plan.question,
                    search_query=plan.search_query, collections=draft.collections,
                    passages=[p.model_dump() for p in plan.passages],
                    prompt_tokens=plan.prompt_tokens, answer_tokens=answer_tokens,
                    model=plan.llm.name, variant=plan.variant, grounded=plan.grounded,
                    answer=answer, citations=citations(answer, plan.passages),
                    checks={"invalid_citations": wrong,
                            "invented_numbers": [x for x in invented if x[0].isdigit()],
                            "invented_names": [x for x in invented if not x[0].isdigit()],
                            "contradicted_numbers": against,
                            "flagged_passages": [p.n for p in plan.passages if p.flagged],
                            "quote": [q.model_dump() for q in plan.quote]},
                    first_token_ms=None if first is None else first * 1000,
                    total_ms=total * 1000, tokens_per_s=speed,
                )
            )  # fmt: skip
        if self.metrics:
            self.metrics.observe_answer(draft.surface, plan.variant, plan.grounded, first, speed)
        log.info("answered", extra={"trace_id": draft.id, "user": draft.caller.name})
        return draft.id, answer


def rate(
    session: Session, caller: Caller, trace_id: str, rating: int, comment: str | None, surface: str
) -> Feedback:
    """Store (or replace) the caller's rating of their answer; 404 for anyone else's trace."""
    trace = session.get(Trace, trace_id)
    if trace is None or trace.user_id != caller.user_id:
        raise NotFound(f"trace {trace_id!r} does not exist")
    found = session.scalar(
        select(Feedback).where(Feedback.trace_id == trace_id, Feedback.user_id == caller.user_id)
    )
    feedback = found or Feedback(trace_id=trace_id, user_id=caller.user_id, user_name=caller.name)
    feedback.rating, feedback.comment, feedback.surface = rating, comment, surface
    session.add(feedback)
    session.flush()
    return feedback
