"""My account: the caller's own sessions and API keys (programs get keys from a signed-in
person, not from an admin's terminal)."""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from sqlalchemy import select

from api.account_schemas import KeyOut, MyKeyIn, SessionRowOut, key_out
from api.auth import CurrentUser
from api.deps import SessionDep
from api.schemas import DeletedOut, aware
from core import accounts
from core.db import ApiKey, User, WebSession
from core.errors import NotFound
from core.signin import Signed

router = APIRouter(prefix="/v1/me", tags=["account"])


@router.get("/sessions")
def my_sessions(caller: CurrentUser, session: SessionDep, request: Request) -> list[SessionRowOut]:
    """Where you are signed in, newest first (`current`: this page)."""
    signed: Signed | None = getattr(request.state, "signed", None)
    rows = session.scalars(select(WebSession).where(WebSession.user_id == caller.user_id)
                           .order_by(WebSession.created_at.desc())).all()  # fmt: skip
    return [SessionRowOut(id=r.id, method=r.method, created_at=aware(r.created_at),
                          seen_at=aware(r.seen_at), expires_at=aware(r.expires_at),
                          address=r.address, agent=r.agent,
                          current=signed is not None and signed.session_id == r.id)
            for r in rows]  # fmt: skip


@router.delete("/sessions/{session_id}")
def end_my_session(session_id: str, caller: CurrentUser, session: SessionDep) -> DeletedOut:
    """Sign one of your browsers out (on every tab and replica)."""
    row = session.get(WebSession, session_id)
    if row is None or row.user_id != caller.user_id:
        raise NotFound("no such session of yours")
    session.delete(row)
    accounts.audit(session, caller.name, "session.end", caller.name)
    session.commit()
    return DeletedOut(id=session_id)


@router.get("/keys")
def my_keys(caller: CurrentUser, session: SessionDep) -> list[KeyOut]:
    """Your API keys, revoked and expired ones included."""
    keys = session.scalars(select(ApiKey).where(ApiKey.user_id == caller.user_id)).all()
    return [key_out(k, caller.name) for k in keys]


@router.post("/keys", status_code=status.HTTP_201_CREATED)
def make_my_key(caller: CurrentUser, session: SessionDep, body: MyKeyIn | None = None) -> KeyOut:
    """A new API key for your programs, valid for `expires_in_days` (90 by default, at most
    365); `key` is shown only in this answer."""
    user = session.get(User, caller.user_id)
    assert user is not None
    days = (body or MyKeyIn()).expires_in_days
    key_id, key = accounts.issue_key(session, caller.name, user, days=days)
    session.commit()
    row = session.get(ApiKey, key_id)
    assert row is not None
    return key_out(row, caller.name, key)


@router.delete("/keys/{key_id}")
def revoke_my_key(key_id: str, caller: CurrentUser, session: SessionDep) -> DeletedOut:
    """Revoke one of your keys; it stops working with the next request."""
    row = session.get(ApiKey, key_id)
    if row is None or row.user_id != caller.user_id:
        raise NotFound("no such key of yours")
    accounts.revoke_key(session, caller.name, key_id)
    session.commit()
    return DeletedOut(id=key_id)
