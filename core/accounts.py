"""Users, groups, API keys and the audit log, shared by the API and the `gptu users` CLI."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.db import ApiKey, AuditEvent, Collection, Group, User, utcnow
from core.errors import Conflict, InvalidRequest, NotFound, Unauthorized

EVERYONE = "everyone"
PERSONAL = "user:"
KEY_PREFIX = "gptu_"
NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
ADMIN_NAME = "admin"


@dataclass(frozen=True)
class Caller:
    """Who is asking (by user id; the name is for display), and every group granting access."""

    user_id: str
    name: str
    admin: bool
    groups: frozenset[str]

    def can_read(self, collection: Collection) -> bool:
        """Whether the caller may search, chat with and read documents of the collection."""
        return self.admin or bool(self.groups.intersection(collection.readers))

    def can_write(self, collection: Collection) -> bool:
        """Whether the caller may add and delete documents in the collection."""
        return self.admin or bool(self.groups.intersection(collection.writers))

    def can_manage(self, collection: Collection) -> bool:
        """Whether the caller may change the collection's access or delete it."""
        return self.admin or collection.owner_id == self.user_id

    def can_see(self, collection: Collection) -> bool:
        """Whether the collection is listed for the caller at all."""
        return any(can(collection) for can in (self.can_read, self.can_write, self.can_manage))


def readable(session: Session, caller: Caller) -> list[Collection]:
    """The collections the caller may read, by name: what retrieval may search for them."""
    every = session.scalars(select(Collection).order_by(Collection.name)).all()
    return [c for c in every if caller.can_read(c)]


def caller_of(user: User) -> Caller:
    """The caller a user row stands for: their groups, their personal group and everyone."""
    groups = {g.name for g in user.groups} | {PERSONAL + user.name, EVERYONE}
    return Caller(user.id, user.name, user.admin, frozenset(groups))


def label() -> str:
    """A key's public label, to tell keys apart in lists and the audit log: `gptu_` and 11
    random characters, no part of the key (its first characters would shorten a search for
    the rest, a chosen GPTU_ADMIN_TOKEN's above all)."""
    return KEY_PREFIX + secrets.token_urlsafe(8)


def digest(key: str) -> str:
    """What is stored of a key: its sha256 (keys are random, so no slow hash is needed)."""
    return hashlib.sha256(key.encode()).hexdigest()


def authenticate(session: Session, key: str) -> Caller:
    """The caller a bearer key belongs to, or 401 for an unknown, revoked or orphaned key."""
    row = session.execute(
        select(ApiKey, User).join(User).where(ApiKey.digest == digest(key))
    ).first()
    if row is None or row[0].revoked_at is not None:
        raise Unauthorized("invalid or revoked API key")
    if expired(row[0]):
        raise Unauthorized("expired API key; ask an admin for a new one")
    if row[1].disabled_at is not None:
        raise Unauthorized("this account is disabled; ask an admin")
    return caller_of(row[1])


def expired(key: ApiKey) -> bool:
    """Whether the key's time has run out."""
    expires = key.expires_at
    return expires is not None and expires.replace(tzinfo=expires.tzinfo or UTC) <= utcnow()


def working_keys(session: Session) -> Counter[str]:
    """How many keys of each user (by id) work now: neither revoked nor expired."""
    live = session.scalars(select(ApiKey).where(ApiKey.revoked_at.is_(None)))
    return Counter(key.user_id for key in live if not expired(key))


def audit(session: Session, actor: str, action: str, target: str, **detail: Any) -> None:
    """Record an event in the audit log (committed with the change it describes)."""
    session.add(AuditEvent(actor=actor, action=action, target=target, detail=detail))


def check_name(name: str, what: str) -> str:
    """A user or group name: lower-case letters, digits, _ . - (max 64)."""
    if not NAME.match(name):
        raise InvalidRequest(
            f"{what} name {name!r}: use lower-case letters, digits, _ . - (max 64)"
        )
    return name


def find_user(session: Session, name: str) -> User:
    """The user called name, or 404."""
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"user {name!r} does not exist")
    return user


def find_groups(session: Session, names: list[str]) -> list[Group]:
    """The groups named, each of which must exist."""
    groups = []
    for name in dict.fromkeys(names):
        group = session.scalar(select(Group).where(Group.name == name))
        if group is None:
            raise InvalidRequest(f"group {name!r} does not exist; create it first")
        groups.append(group)
    return groups


def check_grants(session: Session, names: list[str]) -> list[str]:
    """Group names a collection may grant to: existing groups, user:<name> or everyone."""
    for name in names:
        if name == EVERYONE:
            continue
        if name.startswith(PERSONAL):
            find_user(session, name.removeprefix(PERSONAL))
            continue
        find_groups(session, [name])
    return list(dict.fromkeys(names))


def create_user(
    session: Session,
    actor: str,
    name: str,
    email: str | None = None,
    groups: list[str] | None = None,
    admin: bool = False,
) -> User:
    """A new user in the named groups."""
    check_name(name, "user")
    if session.scalar(select(User).where(User.name == name)) is not None:
        raise Conflict(f"user {name!r} already exists")
    user = User(name=name, email=normal_email(email), admin=admin)
    user.groups = find_groups(session, groups or [])
    session.add(user)
    audit(session, actor, "user.create", name, groups=groups or [], admin=admin)
    session.flush()
    return user


def normal_email(email: str | None) -> str | None:
    """E-mail addresses compare case-insensitively."""
    if email is None or not email.strip():
        return None
    if "@" not in email:
        raise InvalidRequest(f"{email!r} is not an e-mail address")
    return email.strip().lower()


def issue_key(
    session: Session, actor: str, user: User, key: str | None = None, days: float | None = None
) -> tuple[str, str]:
    """A new key for the user: (key id, key), valid for `days` if given (else until revoked).
    Only the digest and a random label are stored; show the key once."""
    key = key or KEY_PREFIX + secrets.token_urlsafe(32)
    expires = utcnow() + timedelta(days=days) if days is not None else None
    row = ApiKey(user_id=user.id, digest=digest(key), prefix=label(), expires_at=expires)
    session.add(row)
    session.flush()
    audit(session, actor, "key.create", user.name, key_id=row.id, prefix=row.prefix)
    return row.id, key


def revoke_key(session: Session, actor: str, key_id: str) -> ApiKey:
    """Revoke a key at once; it stays listed as revoked."""
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(f"key {key_id!r} does not exist")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        owner = session.get(User, row.user_id)
        owner_name = owner.name if owner else None
        audit(session, actor, "key.revoke", key_id, user=owner_name, prefix=row.prefix)
    return row


def create_group(session: Session, actor: str, name: str) -> Group:
    """A new, empty group."""
    check_name(name, "group")
    if name == EVERYONE or ":" in name:
        raise InvalidRequest(f"{name!r} is reserved")
    if session.scalar(select(Group).where(Group.name == name)) is not None:
        raise Conflict(f"group {name!r} already exists")
    group = Group(name=name)
    session.add(group)
    audit(session, actor, "group.create", name)
    session.flush()
    return group


def ensure_admin(session: Session, token: str) -> str | None:
    """On first start create the admin; return a generated key to print, else None.

    A configured token (GPTU_ADMIN_TOKEN) is always a valid key of an admin, so setting it
    later recovers access when the printed key was lost.
    """
    admins = session.scalar(select(func.count()).select_from(User).where(User.admin))
    if not admins:
        admin = session.scalar(select(User).where(User.name == ADMIN_NAME))
        if admin is None:
            admin = User(name=ADMIN_NAME, admin=True)
            session.add(admin)
            audit(session, "system", "user.create", ADMIN_NAME, admin=True)
        admin.admin = True
        session.flush()
        _, key = issue_key(session, "system", admin, token or None)
        return None if token else key
    if token and session.scalar(select(ApiKey).where(ApiKey.digest == digest(token))) is None:
        first = session.scalars(select(User).where(User.admin).order_by(User.created_at)).first()
        assert first is not None
        issue_key(session, "system", first, token)
    return None


def bootstrap_admin(session: Session, token: str) -> str | None:
    """ensure_admin, tolerating a second API process doing the same at the same moment."""
    try:
        key = ensure_admin(session, token)
        session.commit()
        return key
    except IntegrityError:
        session.rollback()
        return None


def forget_grant(session: Session, grant: str) -> None:
    """Remove a group from every collection, so a later namesake inherits nothing."""
    for collection in session.scalars(select(Collection)):
        if grant in collection.readers or grant in collection.writers:
            collection.readers = [g for g in collection.readers if g != grant]
            collection.writers = [g for g in collection.writers if g != grant]


def keep_an_admin(session: Session, user: User) -> None:
    """Refuse to remove the last admin (nobody could manage gptu afterwards)."""
    admins = session.scalar(select(func.count()).select_from(User).where(User.admin))
    if user.admin and (admins or 0) <= 1:
        raise Conflict(f"{user.name!r} is the last admin; make another admin first")


def delete_user(session: Session, actor: str, name: str) -> None:
    """Delete a user; their keys stop working at once and their personal grants go."""
    user = find_user(session, name)
    keep_an_admin(session, user)
    session.delete(user)
    forget_grant(session, PERSONAL + name)
    audit(session, actor, "user.delete", name)


def delete_group(session: Session, actor: str, name: str) -> None:
    """Delete a group and every grant made to it."""
    group = session.scalar(select(Group).where(Group.name == name))
    if group is None:
        raise NotFound(f"group {name!r} does not exist")
    session.delete(group)
    forget_grant(session, name)
    audit(session, actor, "group.delete", name)


def sso_subject(session: Session, user: User, subject: str | None) -> str | None:
    """A single sign-on subject (`<issuer> <sub>`) for the user, refused when another user has
    it (409); None or blank unlinks."""
    subject = " ".join((subject or "").split()) or None
    if subject is not None:
        holder = session.scalar(select(User).where(User.sso_subject == subject))
        if holder is not None and holder.id != user.id:
            raise Conflict(f"{holder.name!r} already signs in as that subject")
        if len(subject.split(" ")) != 2:
            raise InvalidRequest("an SSO subject is the issuer URL and the sub, with one space")
    return subject


def change_user(session: Session, actor: str, name: str, **changes: Any) -> User:
    """Set the given fields (email, groups, admin, slack_id, default_collection, sso_subject)
    of a user."""
    user = find_user(session, name)
    if "email" in changes:
        user.email = normal_email(changes["email"])
    if "groups" in changes:
        user.groups = find_groups(session, changes["groups"])
    if "admin" in changes:
        if not changes["admin"]:
            keep_an_admin(session, user)
        user.admin = bool(changes["admin"])
    if "slack_id" in changes:
        user.slack_id = changes["slack_id"] or None
    if "default_collection" in changes:
        user.default_collection = changes["default_collection"] or None
    if "sso_subject" in changes:
        user.sso_subject = sso_subject(session, user, changes["sso_subject"])
    audit(session, actor, "user.update", name, **changes)
    return user
