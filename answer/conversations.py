"""Saved conversations: a person's chats kept by user id, and read back without what they may
no longer read.

A turn keeps what redraws it (question, answer, quote, numbered sources, citations, trace id,
collections searched). Reading it back checks each source again: one whose document is gone,
or whose collection the owner may no longer read, is left out, and so is the answer (the model
read every source, so its words may repeat any of them) unless it is the plain refusal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from answer.llm import Message
from answer.quote import Quote
from answer.rag import Source, citations
from answer.tracing import Draft
from core.access import readable_documents
from core.accounts import Caller, readable
from core.db import User, utcnow
from core.errors import Conflict, NotFound
from core.records import Conversation, ConversationTurn
from core.scoring import abstained

MAX_TITLE = 200  # characters of a title
MAX_TURNS = 200  # per conversation: a longer one is refused (409); start a new one
MAX_CONVERSATIONS = 1000  # per person: a new one beyond this replaces the least recent


@dataclass
class Said:
    """A finished turn, to keep."""

    question: str
    answer: str
    collections: list[str]
    sources: list[Source]
    quote: list[Quote]
    citations: list[int]
    trace_id: str | None

    @classmethod
    def of(cls, draft: Draft, answer: str, trace_id: str | None) -> Said:
        """The turn a finished draft and its checked answer make."""
        plan = draft.plan
        assert plan is not None
        return cls(
            plan.question, answer, draft.collections, plan.passages, plan.quote,
            citations(answer, plan.passages), trace_id,
        )  # fmt: skip


@dataclass
class Shown:
    """A kept turn as its owner may see it now; `answer` is None when withheld."""

    id: int
    question: str
    answer: str | None
    withheld: bool
    collections: list[str]
    sources: list[Source]
    quote: list[Quote]
    citations: list[int]
    trace_id: str | None
    created_at: datetime


def title_of(question: str) -> str:
    """A conversation's first title: its first question on one line, cut to MAX_TITLE."""
    line = " ".join(question.split())
    return line if len(line) <= MAX_TITLE else line[: MAX_TITLE - 1].rstrip() + "…"


def owned(session: Session, caller: Caller, conversation_id: str) -> Conversation:
    """The caller's conversation; 404 for anyone else's, as if it did not exist."""
    found = session.get(Conversation, conversation_id)
    if found is None or found.user_id != caller.user_id:
        raise NotFound(f"conversation {conversation_id!r} does not exist")
    return found


def listed(
    session: Session, caller: Caller, limit: int, offset: int
) -> list[tuple[Conversation, int]]:
    """The caller's conversations, most recently continued first, with their turn counts."""
    turns = (
        select(func.count())
        .where(ConversationTurn.conversation_id == Conversation.id)
        .correlate(Conversation)
        .scalar_subquery()
    )
    query = (
        select(Conversation, turns)
        .where(Conversation.user_id == caller.user_id)
        .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [(c, int(n)) for c, n in session.execute(query).tuples()]


def questions(session: Session, conversation: Conversation) -> int:
    """How many turns a conversation holds."""
    query = select(func.count()).where(ConversationTurn.conversation_id == conversation.id)
    return session.scalar(query) or 0


def turns_of(session: Session, conversation: Conversation) -> list[ConversationTurn]:
    """A conversation's turns, oldest first."""
    query = select(ConversationTurn).where(ConversationTurn.conversation_id == conversation.id)
    return list(session.scalars(query.order_by(ConversationTurn.id)))


def shown(session: Session, caller: Caller, turns: list[ConversationTurn]) -> list[Shown]:
    """The turns as the caller may see them now (sources checked again, see the module)."""
    ids = {s["document_id"] for t in turns for s in t.sources}
    readable_ids = readable_documents(session, caller, ids)
    names = {c.name for c in readable(session, caller)}
    return [show(turn, readable_ids, names) for turn in turns]


def show(turn: ConversationTurn, readable_ids: set[str], names: set[str]) -> Shown:
    """One turn without the sources outside readable_ids (and then without its answer)."""
    sources = [Source.model_validate(s) for s in turn.sources if s["document_id"] in readable_ids]
    kept = {s.n for s in sources}
    withheld = len(sources) < len(turn.sources) and not abstained(turn.answer)
    return Shown(
        id=turn.id, question=turn.question, answer=None if withheld else turn.answer,
        withheld=withheld, collections=[c for c in turn.collections if c in names],
        sources=sources, quote=[Quote.model_validate(q) for q in turn.quote if q["n"] in kept],
        citations=[] if withheld else [n for n in turn.citations if n in kept],
        trace_id=turn.trace_id, created_at=turn.created_at,
    )  # fmt: skip


def history(session: Session, caller: Caller, conversation_id: str) -> list[Message]:
    """The caller's conversation as the model's history, as they may see it now: a withheld
    answer is left out. 404 for anyone else's; 409 once it holds MAX_TURNS turns."""
    turns = turns_of(session, owned(session, caller, conversation_id))
    if len(turns) >= MAX_TURNS:
        raise Conflict(f"this conversation has {MAX_TURNS} turns, the most kept; start a new one")
    messages: list[Message] = []
    for turn in shown(session, caller, turns):
        messages.append({"role": "user", "content": turn.question})
        if turn.answer is not None:
            messages.append({"role": "assistant", "content": turn.answer})
    return messages


def keep(session: Session, caller: Caller, conversation_id: str | None, said: Said) -> str | None:
    """Add the turn to the caller's conversation, or to a new one (None: start one); its id.

    None when the conversation (or the caller) was deleted while the answer was written.
    """
    if session.get(User, caller.user_id) is None:
        return None
    if conversation_id is None:
        make_room(session, caller)
        conversation = Conversation(user_id=caller.user_id, title=title_of(said.question))
        session.add(conversation)
        session.flush()
    else:
        found = session.get(Conversation, conversation_id)
        if found is None or found.user_id != caller.user_id:
            return None
        conversation = found
    conversation.updated_at = utcnow()
    session.add(
        ConversationTurn(
            conversation_id=conversation.id, question=said.question, answer=said.answer,
            collections=said.collections, sources=[s.model_dump() for s in said.sources],
            quote=[q.model_dump() for q in said.quote], citations=said.citations,
            trace_id=said.trace_id,
        )
    )  # fmt: skip
    return conversation.id


def make_room(session: Session, caller: Caller) -> None:
    """Delete the caller's least recent conversations beyond MAX_CONVERSATIONS - 1."""
    stale = list(
        session.scalars(
            select(Conversation.id)
            .where(Conversation.user_id == caller.user_id)
            .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
            .offset(MAX_CONVERSATIONS - 1)
        )
    )
    if stale:
        session.execute(delete(Conversation).where(Conversation.id.in_(stale)))


def rename(session: Session, caller: Caller, conversation_id: str, title: str) -> Conversation:
    """Give the caller's conversation a new title."""
    conversation = owned(session, caller, conversation_id)
    conversation.title = title
    return conversation


def forget(session: Session, caller: Caller, conversation_id: str) -> None:
    """Delete the caller's conversation and its turns."""
    session.delete(owned(session, caller, conversation_id))
