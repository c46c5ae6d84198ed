"""How people sign in to the web pages: passwords (argon2id), server-side sessions behind a
cookie, and one-time links to set a password. Programs keep using API keys (core.accounts).

A session is stored as the sha256 of its cookie, so a copy of the database (a backup) holds
no cookie that works; it ends on sign-out, after `idle` without a request, at its absolute
end, and at once when its user is disabled or deleted.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.accounts import Caller, audit, caller_of
from core.db import SignInLink, User, WebSession, utcnow
from core.errors import InvalidRequest, Unauthorized

HASHER = PasswordHasher()  # argon2id, the library's current parameters (RFC 9106 low-memory)
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
WRONG = "wrong name or password"  # the same for an unknown name: no way to list users
# A session's last-seen time is written at most this often (not on every request).
SEEN_EVERY = timedelta(minutes=1)
# A hash to verify against when the name is unknown, so both cases take the same time.
DECOY = HASHER.hash(secrets.token_urlsafe(16))


def token_id(token: str) -> str:
    """What is stored of a cookie or link token: its sha256."""
    return hashlib.sha256(token.encode()).hexdigest()


def aware(moment: datetime) -> datetime:
    """SQLite drops time zones; every stored moment is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def check_password(password: str) -> str:
    """A password a person may choose: 10 to 1024 characters."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidRequest(
            f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters; "
            "a few words make a good one"
        )
    return password


def set_password(session: Session, user: User, password: str, actor: str) -> None:
    """Store the password's argon2id hash; every session of the user ends (a new password
    shuts out whoever knew the old one)."""
    user.password_hash = HASHER.hash(check_password(password))
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    audit(session, actor, "user.password", user.name)


def verify_password(session: Session, name: str, password: str) -> User:
    """The user whose name and password these are; 401 with one message for an unknown name,
    a user without a password, a disabled user or a wrong password."""
    user = session.scalar(select(User).where(User.name == name.strip().lower()))
    stored = user.password_hash if user is not None else None
    try:
        HASHER.verify(stored or DECOY, password[:MAX_PASSWORD])
    except (VerificationError, InvalidHashError):
        raise Unauthorized(WRONG) from None
    if user is None or stored is None or user.disabled_at is not None:
        raise Unauthorized(WRONG)
    if HASHER.check_needs_rehash(stored):
        user.password_hash = HASHER.hash(password)
    return user


@dataclass(frozen=True)
class Started:
    """A new session: the cookie's value (shown once) and the CSRF token pages send back."""

    token: str
    csrf: str
    expires_at: datetime


def start_session(
    session: Session,
    user: User,
    method: str,
    max_hours: float,
    address: str | None = None,
    agent: str | None = None,
) -> Started:
    """Record a session for the user; its cookie's value is returned, its sha256 stored."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    ends = utcnow() + timedelta(hours=max_hours)
    row = WebSession(id=token_id(token), user_id=user.id, csrf=csrf, method=method,
                     expires_at=ends, address=address, agent=(agent or "")[:200])  # fmt: skip
    session.add(row)
    audit(session, user.name, "session.start", user.name, method=method, address=address)
    return Started(token, csrf, ends)


@dataclass(frozen=True)
class Signed:
    """A request's session: who it is and the CSRF token it must carry to change anything."""

    caller: Caller
    session_id: str
    csrf: str
    expires_at: datetime
    method: str


def resolve_session(session: Session, token: str, idle_minutes: float) -> Signed:
    """The session of a cookie, touched; 401 when unknown, idle too long, past its end, or its
    user is disabled (an ended session's row is removed)."""
    row = session.get(WebSession, token_id(token))
    if row is None:
        raise Unauthorized("signed out: sign in again")
    now = utcnow()
    user = session.get(User, row.user_id)
    idle = aware(row.seen_at) + timedelta(minutes=idle_minutes) <= now
    if user is None or user.disabled_at is not None or idle or aware(row.expires_at) <= now:
        session.delete(row)
        session.commit()
        raise Unauthorized("your session has ended: sign in again")
    if now - aware(row.seen_at) >= SEEN_EVERY:
        row.seen_at = now
    return Signed(caller_of(user), row.id, row.csrf, aware(row.expires_at), row.method)


def end_session(session: Session, token: str) -> None:
    """Sign out: the session's row goes (the cookie stops working on every tab and replica)."""
    session.execute(delete(WebSession).where(WebSession.id == token_id(token)))


def create_link(session: Session, user: User, actor: str, hours: float) -> tuple[str, datetime]:
    """A one-time link token to set the user's password, valid for `hours`; earlier unused
    links of the user stop working."""
    session.execute(
        delete(SignInLink).where(SignInLink.user_id == user.id, SignInLink.used_at.is_(None))
    )
    token, ends = secrets.token_urlsafe(32), utcnow() + timedelta(hours=hours)
    session.add(SignInLink(id=token_id(token), user_id=user.id, created_by=actor, expires_at=ends))
    audit(session, actor, "user.link", user.name, expires_at=ends.isoformat())
    return token, ends


def redeem_link(session: Session, token: str, password: str) -> User:
    """Set the password of the link's user and use the link up; 401 for a used, expired or
    unknown link."""
    link = session.get(SignInLink, token_id(token))
    if link is None or link.used_at is not None or aware(link.expires_at) <= utcnow():
        raise Unauthorized("this link has expired or was used already: ask an admin for a new one")
    user = session.get(User, link.user_id)
    if user is None or user.disabled_at is not None:
        raise Unauthorized("this link has expired or was used already: ask an admin for a new one")
    set_password(session, user, password, user.name)
    link.used_at = utcnow()
    return user


def set_disabled(session: Session, user: User, disabled: bool, actor: str) -> None:
    """Disable a user (their sessions end and their keys stop at once) or enable them again."""
    if disabled and user.disabled_at is None:
        user.disabled_at = utcnow()
        session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    elif not disabled:
        user.disabled_at = None
    audit(session, actor, "user.disable" if disabled else "user.enable", user.name)
