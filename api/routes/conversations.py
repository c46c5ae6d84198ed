"""Saved conversations: yours alone (by user id; anyone else's is answered 404, admins' too)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from answer import conversations
from api.auth import CurrentUser
from api.conversation_schemas import (
    ConversationChangeIn,
    ConversationDetailOut,
    ConversationOut,
    TurnOut,
)
from api.deps import SessionDep
from api.schemas import DeletedOut

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])


@router.get("")
def list_conversations(
    caller: CurrentUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[ConversationOut]:
    """Your conversations, the most recently continued first."""
    rows = conversations.listed(session, caller, limit, offset)
    return [ConversationOut.of(conversation, count) for conversation, count in rows]


@router.get("/{conversation_id}")
def get_conversation(
    conversation_id: str, caller: CurrentUser, session: SessionDep
) -> ConversationDetailOut:
    """One of your conversations with its turns, oldest first; sources you may no longer read
    are left out, with the answers drawn from them."""
    found = conversations.owned(session, caller, conversation_id)
    turns = conversations.shown(session, caller, conversations.turns_of(session, found))
    return ConversationDetailOut(
        **ConversationOut.of(found, len(turns)).model_dump(),
        turns=[TurnOut.of(t) for t in turns],
    )


@router.patch("/{conversation_id}")
def rename_conversation(
    conversation_id: str, body: ConversationChangeIn, caller: CurrentUser, session: SessionDep
) -> ConversationOut:
    """Rename one of your conversations."""
    renamed = conversations.rename(session, caller, conversation_id, body.title)
    return ConversationOut.of(renamed, conversations.questions(session, renamed))


@router.delete("/{conversation_id}")
def delete_conversation(
    conversation_id: str, caller: CurrentUser, session: SessionDep
) -> DeletedOut:
    """Delete one of your conversations and its turns (their traces stay)."""
    conversations.forget(session, caller, conversation_id)
    return DeletedOut(id=conversation_id)
