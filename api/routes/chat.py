"""Chat: the quote at once, then a cited answer, as server-sent events or as one JSON."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask

from answer import conversations
from answer.llm import Message
from answer.rag import citations
from answer.tracing import Draft, Tracer
from api.auth import CurrentUser
from api.deps import AnswererDep, ServicesDep, TracerDep, in_session
from api.schemas import ChatIn, ChatOut, Read
from api.streaming import answer_pieces, complete, finish, take_turn
from app.services import Services
from core.access import readable_collections
from core.accounts import Caller
from core.errors import GptuError

router = APIRouter(prefix="/v1", tags=["chat"])


@router.post("/chat", response_model=ChatOut)
async def chat(
    body: ChatIn,
    caller: CurrentUser,
    services: ServicesDep,
    answerer: AnswererDep,
    tracer: TracerDep,
) -> Any:
    """Answer the last user message from the documents you may read; SSE by default.

    The turn is kept in your saved conversation `conversation_id` (whose turns are then the
    history), or in a new one; its id comes back in `done` (JSON: `conversation_id`).
    """
    collections, history, readable = await in_session(
        services, lambda session: asked(session, caller, body)
    )
    draft = Draft(caller, "chat", collections)
    plan = draft.plan = await run_in_threadpool(
        answerer.plan, history, collections, body.k, caller.name, readable
    )
    keep = keeper(services, caller, body, draft)
    if not body.stream:
        answer = await complete(answerer, plan)
        draft.token_arrived()
        trace_id, answer = await finish(tracer, draft, answer)
        return ChatOut(
            answer=answer, quote=plan.quote, citations=citations(answer, plan.passages),
            sources=plan.passages, trace_id=trace_id,
            read=[Read(n=n, text=text) for n, text in plan.read.items()],
            conversation_id=await keep(answer, trace_id),
        )  # fmt: skip
    turn = await take_turn(answerer, plan)  # model busy: a 503 before any byte is sent
    stream = sse(tracer, draft, answer_pieces(answerer, plan, turn), keep)
    return StreamingResponse(
        stream, media_type="text/event-stream", background=BackgroundTask(turn.release_unused)
    )


Keep = Callable[[str, str], Awaitable[str | None]]


def asked(
    session: Session, caller: Caller, body: ChatIn
) -> tuple[list[str], list[Message], list[str]]:
    """The collections to search, the conversation so far with the question (from the saved
    conversation, 404 if it is not the caller's, else as the request sends it) and every
    collection the caller may read (which decides the models they may use)."""
    collections = readable_collections(session, caller, body.collections)
    readable = readable_collections(session, caller, None)
    if body.conversation_id is None:
        return collections, [m.model_dump() for m in body.messages], readable
    kept = conversations.history(session, caller, body.conversation_id)
    return collections, [*kept, body.messages[-1].model_dump()], readable


def keeper(services: Services, caller: Caller, body: ChatIn, draft: Draft) -> Keep:
    """What keeps a finished turn in the caller's conversation: (answer, trace id) → its id."""

    async def keep(answer: str, trace_id: str) -> str | None:
        if not body.save:
            return None
        said = conversations.Said.of(draft, answer, trace_id)
        return await in_session(
            services,
            lambda session: conversations.keep(session, caller, body.conversation_id, said),
        )

    return keep


async def sse(
    tracer: Tracer, draft: Draft, pieces: AsyncIterator[str], keep: Keep
) -> AsyncIterator[str]:
    """The event stream: sources and the quote at once, then tokens, then done."""
    plan = draft.plan
    assert plan is not None
    yield event("sources", [s.model_dump() for s in plan.passages])
    yield event("quote", [q.model_dump() for q in plan.quote])
    answer = ""
    try:
        async for piece in pieces:
            draft.token_arrived()
            answer += piece
            yield event("token", {"text": piece})
    except GptuError as exc:
        yield event("error", {"code": exc.code, "message": exc.message})
        return
    finally:
        await pieces.aclose()  # type: ignore[attr-defined]
    trace_id, answer = await finish(tracer, draft, answer)
    done = {"answer": answer, "citations": citations(answer, plan.passages), "trace_id": trace_id,
            "conversation_id": await keep(answer, trace_id)}  # fmt: skip
    yield event("done", done)


def event(name: str, data: Any) -> str:
    """One server-sent event."""
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"
