"""Chat: cited answers from the documents, streamed as server-sent events or as one JSON."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from answer.rag import Answerer, Plan, citations
from answer.tracing import Draft, Tracer
from api.auth import CurrentUser
from api.deps import AnswererDep, SessionDep, TracerDep
from api.routes.collections import readable_collections
from api.schemas import ChatIn, ChatOut
from api.streaming import from_thread

router = APIRouter(prefix="/v1", tags=["chat"])


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


async def finish(tracer: Tracer, draft: Draft, answer: str) -> tuple[str, str]:
    """Check and store a finished answer; (trace id, answer without invalid citations)."""
    assert draft.plan is not None
    tokens = await run_in_threadpool(draft.plan.llm.count_tokens, answer)
    return await run_in_threadpool(tracer.finish, draft, answer, tokens)


@router.post("/chat", response_model=ChatOut)
async def chat(
    body: ChatIn,
    caller: CurrentUser,
    session: SessionDep,
    answerer: AnswererDep,
    tracer: TracerDep,
) -> Any:
    """Answer the last user message from the documents you may read; SSE by default."""
    collections = readable_collections(session, caller, body.collections)
    draft = Draft(caller.name, "chat", collections)
    history = [m.model_dump() for m in body.messages]
    plan = draft.plan = await run_in_threadpool(
        answerer.plan, history, collections, body.k, caller.name
    )
    if not body.stream:
        answer = await run_in_threadpool(answerer.complete, plan)
        draft.token_arrived()
        trace_id, answer = await finish(tracer, draft, answer)
        return ChatOut(
            answer=answer, citations=citations(answer, plan.passages), sources=plan.passages,
            trace_id=trace_id,
        )  # fmt: skip
    pieces = answer_pieces(answerer, plan)
    first = await anext(pieces, "")  # waits for the model here: busy is a 503, not a broken stream
    draft.token_arrived()
    stream = sse(tracer, draft, first, pieces)
    return StreamingResponse(stream, media_type="text/event-stream")


async def sse(
    tracer: Tracer, draft: Draft, first: str, pieces: AsyncIterator[str]
) -> AsyncIterator[str]:
    """The event stream: sources, then tokens, then done with the citations and trace id."""
    plan = draft.plan
    assert plan is not None
    yield event("sources", [s.model_dump() for s in plan.passages])
    answer = first
    if first:
        yield event("token", {"text": first})
    try:
        async for piece in pieces:
            answer += piece
            yield event("token", {"text": piece})
    finally:
        await pieces.aclose()  # type: ignore[attr-defined]
    trace_id, answer = await finish(tracer, draft, answer)
    done = {"answer": answer, "citations": citations(answer, plan.passages), "trace_id": trace_id}
    yield event("done", done)


def event(name: str, data: Any) -> str:
    """One server-sent event."""
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"
