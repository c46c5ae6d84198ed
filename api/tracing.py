"""Traces: every answer is recorded with its retrieval, prompt size, timings and citations."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from api.rag import Plan, citations
from core.db import Database, new_id
from core.records import Trace


@dataclass
class Draft:
    """A trace being written while its answer is produced."""

    user: str
    surface: str
    collections: list[str]
    model: str
    plan: Plan | None = None
    id: str = field(default_factory=new_id)
    started: float = field(default_factory=time.perf_counter)
    first_token: float | None = None

    def token_arrived(self) -> None:
        """Note the time of the first answer token."""
        if self.first_token is None:
            self.first_token = time.perf_counter()


def save(db: Database, draft: Draft, answer: str, answer_tokens: int) -> str:
    """Store the finished trace; returns its id."""
    plan = draft.plan
    assert plan is not None
    now = time.perf_counter()
    passages = [
        {"n": p.n, "document_id": p.document_id, "filename": p.filename,
         "collection": p.collection, "page": p.page, "section": p.section, "score": p.score,
         "similarity": p.similarity, "text": p.text}
        for p in plan.passages
    ]  # fmt: skip
    first = draft.first_token
    with db.session() as session:
        session.add(
            Trace(
                id=draft.id, user_name=draft.user, surface=draft.surface,
                question=plan.question, search_query=plan.search_query,
                collections=draft.collections, passages=passages,
                prompt_tokens=plan.prompt_tokens, answer_tokens=answer_tokens,
                model=draft.model, grounded=plan.grounded, answer=answer,
                citations=citations(answer, plan.passages),
                first_token_ms=None if first is None else (first - draft.started) * 1000,
                total_ms=(now - draft.started) * 1000,
            )
        )  # fmt: skip
    return draft.id
