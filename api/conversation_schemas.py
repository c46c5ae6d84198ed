"""Request and response bodies of the saved conversations."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, field_validator

from answer.conversations import MAX_TITLE, Shown
from answer.quote import Quote
from answer.rag import Source
from api.schemas import aware
from core.records import Conversation


class ConversationOut(BaseModel):
    """One of your saved conversations, as listed."""

    id: str
    title: str
    questions: int = Field(description="Questions asked in it so far.")
    created_at: datetime
    updated_at: datetime = Field(description="When its last turn was added.")

    @classmethod
    def of(cls, conversation: Conversation, questions: int) -> ConversationOut:
        """The public view of a conversation row."""
        return cls(
            id=conversation.id, title=conversation.title, questions=questions,
            created_at=aware(conversation.created_at), updated_at=aware(conversation.updated_at),
        )  # fmt: skip


class TurnOut(BaseModel):
    """One question and its answer, with what redraws it."""

    id: int
    question: str
    answer: str | None = Field(
        description="null when withheld: a source is a document you may no longer read."
    )
    withheld: bool = Field(
        description="Sources you may no longer read (access revoked, document deleted) were "
        "left out, and so was the answer."
    )
    collections: list[str] = Field(description="The collections searched that you still read.")
    sources: list[Source]
    quote: list[Quote]
    citations: list[int]
    trace_id: str | None
    created_at: datetime

    @classmethod
    def of(cls, turn: Shown) -> TurnOut:
        """The public view of a turn as its owner may see it now."""
        return cls(
            id=turn.id, question=turn.question, answer=turn.answer, withheld=turn.withheld,
            collections=turn.collections, sources=turn.sources, quote=turn.quote,
            citations=turn.citations, trace_id=turn.trace_id, created_at=aware(turn.created_at),
        )  # fmt: skip


class ConversationDetailOut(ConversationOut):
    """A saved conversation with its turns, oldest first."""

    turns: list[TurnOut]


class ConversationChangeIn(BaseModel):
    """A conversation's new title."""

    title: str = Field(min_length=1, max_length=MAX_TITLE)

    @field_validator("title")
    @classmethod
    def not_blank(cls, value: str) -> str:
        """A title shows something; it is kept on one line."""
        line = " ".join(value.split())
        if not line:
            raise ValueError("title is blank")
        return line
