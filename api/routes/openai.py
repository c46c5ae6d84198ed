"""OpenAI-compatible chat completions with retrieval on; works with the official `openai` client."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.background import BackgroundTask

from answer.rag import Plan, citations
from answer.tracing import Draft, Tracer
from api.auth import CurrentUser
from api.deps import AnswererDep, ServicesDep, TracerDep, in_session
from api.schemas import MAX_MESSAGE_CHARS, MAX_QUESTION_CHARS
from api.streaming import answer_pieces, complete, finish, take_turn
from core.access import readable_collections
from core.errors import InvalidRequest

router = APIRouter(prefix="/v1", tags=["openai"])
MAX_PARTS = 100


class OpenAIMessage(BaseModel):
    """A chat message; content as a string or a list of text parts."""

    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "user", "assistant", "developer"]
    content: str | list[dict[str, Any]] = Field(
        description=f"At most {MAX_MESSAGE_CHARS} characters (and 100 parts)."
    )

    @field_validator("content")
    @classmethod
    def not_too_long(cls, content: str | list[dict[str, Any]]) -> str | list[dict[str, Any]]:
        """Every message is capped, not only the question: each request reads them all."""
        if isinstance(content, list):
            if len(content) > MAX_PARTS:
                raise ValueError(f"a message may have at most {MAX_PARTS} content parts")
            size = sum(len(str(part.get("text", ""))) for part in content)
        else:
            size = len(content)
        if size > MAX_MESSAGE_CHARS:
            raise ValueError(f"a message may be at most {MAX_MESSAGE_CHARS} characters")
        return content

    def text(self) -> str:
        """The message's text."""
        if isinstance(self.content, str):
            return self.content
        parts = []
        for part in self.content:
            if part.get("type") != "text":
                raise InvalidRequest(f"unsupported content part type {part.get('type')!r}")
            parts.append(str(part.get("text", "")))
        return "".join(parts)


class CompletionIn(BaseModel):
    """The supported subset of OpenAI's chat completion request, plus `collections`."""

    model_config = ConfigDict(extra="forbid")
    model: str | None = None
    messages: list[OpenAIMessage] = Field(min_length=1, max_length=50)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    n: int = Field(1, ge=1)
    user: str | None = None
    seed: int | None = None
    collections: list[str] | None = Field(None, description="gptu: collections to search.")


def history_of(body: CompletionIn) -> list[dict[str, str]]:
    """Our conversation shape; system messages from the client are dropped (ours is fixed)."""
    if body.n != 1:
        raise InvalidRequest("n must be 1: gptu returns one answer per request")
    turns = [
        {"role": m.role, "content": m.text()}
        for m in body.messages
        if m.role in ("user", "assistant")
    ]
    if not turns or turns[-1]["role"] != "user" or not turns[-1]["content"].strip():
        raise InvalidRequest("the last message must be a non-blank user message")
    if len(turns[-1]["content"]) > MAX_QUESTION_CHARS:
        raise InvalidRequest(f"the question is longer than {MAX_QUESTION_CHARS} characters")
    return turns


@router.get("/models")
async def models(
    caller: CurrentUser, services: ServicesDep, answerer: AnswererDep
) -> dict[str, Any]:
    """The models you may answer with (`model` of a completion picks one): the default first;
    a model tuned on collections only if you may read every one of them."""
    readable = await in_session(
        services, lambda session: readable_collections(session, caller, None)
    )
    data = [{"id": name, "object": "model", "created": 0, "owned_by": "gptu"}
            for name in answerer.usable(readable)]  # fmt: skip
    return {"object": "list", "data": data}


@router.post("/chat/completions")
async def completions(
    body: CompletionIn,
    caller: CurrentUser,
    services: ServicesDep,
    answerer: AnswererDep,
    tracer: TracerDep,
) -> Any:
    """Retrieval-augmented answer in OpenAI's format; `sources` holds the cited passages."""
    history = history_of(body)
    collections, readable = await in_session(
        services,
        lambda session: (
            readable_collections(session, caller, body.collections),
            readable_collections(session, caller, None),
        ),
    )
    draft = Draft(caller, "openai", collections)
    plan = draft.plan = await run_in_threadpool(
        answerer.plan, history, collections, None, caller.name, readable, body.model
    )
    ident, created, model = f"chatcmpl-{uuid.uuid4().hex}", int(time.time()), plan.llm.name
    if not body.stream:
        answer = await complete(answerer, plan)
        draft.token_arrived()
        trace_id, answer = await finish(tracer, draft, answer)
        return {
            "id": ident, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer},
                         "finish_reason": "stop"}],
            "usage": usage(answerer, plan, answer),
            "sources": [s.model_dump() for s in plan.passages],
            "quote": [q.model_dump() for q in plan.quote],
            "citations": citations(answer, plan.passages),
            "trace_id": trace_id,
        }  # fmt: skip
    turn = await take_turn(answerer, plan)  # model busy: a 503 before any byte is sent
    pieces = answer_pieces(answerer, plan, turn)
    first = await anext(pieces, "")
    draft.token_arrived()
    head = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model}
    stream = chunks(tracer, draft, head, first, pieces)
    return StreamingResponse(
        stream, media_type="text/event-stream", background=BackgroundTask(turn.release_unused)
    )


async def chunks(
    tracer: Tracer,
    draft: Draft,
    head: dict[str, Any],
    first: str,
    pieces: AsyncIterator[str],
) -> AsyncIterator[str]:
    """OpenAI stream chunks, then [DONE]."""
    plan = draft.plan
    assert plan is not None
    answer = first
    opening = {"role": "assistant", "content": first}
    sources = [s.model_dump() for s in plan.passages]
    quote = [q.model_dump() for q in plan.quote]
    yield data({**head, "choices": [delta(opening)], "sources": sources, "quote": quote})
    try:
        async for piece in pieces:
            answer += piece
            yield data({**head, "choices": [delta({"content": piece})]})
    finally:
        await pieces.aclose()  # type: ignore[attr-defined]
    trace_id, answer = await finish(tracer, draft, answer)
    closing = {
        **head,
        "choices": [delta({}, "stop")],
        "citations": citations(answer, plan.passages),
        "trace_id": trace_id,
    }
    yield data(closing)
    yield "data: [DONE]\n\n"


def delta(content: dict[str, str], finish: str | None = None) -> dict[str, Any]:
    """One streamed choice."""
    return {"index": 0, "delta": content, "finish_reason": finish}


def data(payload: dict[str, Any]) -> str:
    """One SSE data line."""
    return f"data: {json.dumps(payload)}\n\n"


def usage(answerer: Any, plan: Plan, answer: str) -> dict[str, int]:
    """Token counts with the model's tokenizer."""
    completion = plan.llm.count_tokens(answer)
    return {"prompt_tokens": plan.prompt_tokens, "completion_tokens": completion,
            "total_tokens": plan.prompt_tokens + completion}  # fmt: skip
