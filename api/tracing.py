"""Traces: every answer is recorded with its retrieval, prompt size, timings and citations."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from api.metrics import Metrics
from api.observe import request_id
from api.rag import Plan, checked, citations
from core.db import Database, new_id
from core.records import Trace

log = logging.getLogger("gptu.answers")


@dataclass
class Draft:
    """A trace being written while its answer is produced."""

    user: str
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

    def __init__(self, db: Database, metrics: Metrics | None = None) -> None:
        self.db = db
        self.metrics = metrics

    def finish(self, draft: Draft, answer: str, answer_tokens: int) -> tuple[str, str]:
        """Check the answer's citations, store the trace; (trace id, checked answer)."""
        plan = draft.plan
        assert plan is not None
        total = time.perf_counter() - draft.started
        answer, wrong = checked(answer, plan.passages)
        first = None if draft.first_token is None else draft.first_token - draft.started
        generating = total - (first or 0)
        speed = answer_tokens / generating if plan.grounded and generating > 0 else None
        with self.db.session() as session:
            session.add(
                Trace(
                    id=draft.id, request_id=draft.request_id, user_name=draft.user,
                    surface=draft.surface, question=plan.question,
                    search_query=plan.search_query, collections=draft.collections,
                    passages=[passage_record(p) for p in plan.passages],
                    prompt_tokens=plan.prompt_tokens, answer_tokens=answer_tokens,
                    model=plan.llm.name, variant=plan.variant, grounded=plan.grounded,
                    answer=answer, citations=citations(answer, plan.passages),
                    checks={"invalid_citations": wrong,
                            "flagged_passages": [p.n for p in plan.passages if p.flagged]},
                    first_token_ms=None if first is None else first * 1000,
                    total_ms=total * 1000, tokens_per_s=speed,
                )
            )  # fmt: skip
        if self.metrics:
            self.metrics.observe_answer(draft.surface, plan.variant, plan.grounded, first, speed)
        log.info("answered", extra={"trace_id": draft.id, "user": draft.user})
        return draft.id, answer


def passage_record(p: object) -> dict[str, object]:
    """What a trace keeps of a passage: where it is from, its scores, its text."""
    keys = ("n", "document_id", "filename", "collection", "page", "section", "score",
            "similarity", "lexical", "flagged", "text")  # fmt: skip
    return {key: getattr(p, key) for key in keys}
