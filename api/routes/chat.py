"""Chat: cited answers from the documents, streamed as server-sent events or as one JSON."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import AnswererDep, SessionDep
from api.rag import Answerer, Plan, citations, label
from api.routes.collections import find_collection
from api.schemas import ChatIn, ChatOut, SourceOut
from api.streaming import from_thread
from core.db import Collection

router = APIRouter(prefix="/v1", tags=["chat"])


def allowed_collections(session: Session, asked: list[str] | None) -> list[str]:
    """The collections to search: those asked for (each must exist), else all."""
    if asked is None:
        return list(session.scalars(select(Collection.name)).all())
    return [find_collection(session, name).name for name in dict.fromkeys(asked)]


def sources(plan: Plan) -> list[SourceOut]:
    """The numbered passages as the asker sees them."""
    return [SourceOut.model_validate({**vars(p), "label": label(p)}) for p in plan.passages]


async def answer_pieces(answerer: Answerer, plan: Plan) -> AsyncIterator[str]:
    """Take the model in turn (503 model_busy after the queue timeout), then stream from it."""
    cancel = threading.Event()
    if not answerer.needs_model(plan):
        for piece in answerer.generate(plan, cancel):
            yield piece
        return
    await run_in_threadpool(answerer.gate.acquire, answerer.queue_timeout)
    async for piece in from_thread(
        lambda: answerer.generate(plan, cancel), cancel, answerer.gate.release
    ):
        yield piece


@router.post("/chat", response_model=ChatOut)
async def chat(body: ChatIn, session: SessionDep, answerer: AnswererDep) -> Any:
    """Answer the last user message from the documents; SSE `sources`/`token`/`done` by default."""
    collections = allowed_collections(session, body.collections)
    history = [m.model_dump() for m in body.messages]
    plan = await run_in_threadpool(answerer.plan, history, collections, body.k)
    if not body.stream:
        answer = await run_in_threadpool(answerer.complete, plan)
        return ChatOut(
            answer=answer, citations=citations(answer, plan.passages), sources=sources(plan),
            trace_id=None,
        )  # fmt: skip
    pieces = answer_pieces(answerer, plan)
    first = await anext(
        pieces, ""
    )  # waits for the model here, so busy is a 503, not a broken stream
    return StreamingResponse(sse(plan, first, pieces), media_type="text/event-stream")


async def sse(plan: Plan, first: str, pieces: AsyncIterator[str]) -> AsyncIterator[str]:
    """The event stream: sources, then tokens, then done with the citations."""
    yield event("sources", [s.model_dump() for s in sources(plan)])
    answer = first
    if first:
        yield event("token", {"text": first})
    try:
        async for piece in pieces:
            answer += piece
            yield event("token", {"text": piece})
    finally:
        await pieces.aclose()  # type: ignore[attr-defined]
    done = {"answer": answer, "citations": citations(answer, plan.passages), "trace_id": None}
    yield event("done", done)


def event(name: str, data: Any) -> str:
    """One server-sent event."""
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"
