"""Admin: users, groups, API keys and the audit log; plus `GET /v1/me` for everyone."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from sqlalchemy import select

from api.account_schemas import (
    AuditOut,
    GroupIn,
    GroupOut,
    KeyIn,
    KeyOut,
    MeOut,
    UserChangeIn,
    UserIn,
    UserOut,
    key_out,
)
from api.auth import AdminUser, CurrentUser
from api.deps import SessionDep
from api.schemas import DeletedOut, aware
from core import accounts
from core.db import ApiKey, AuditEvent, Group, User
from core.errors import Conflict
from core.signin import set_disabled

router = APIRouter(prefix="/v1", tags=["admin"])


def user_out(user: User, keys: int) -> UserOut:
    """A user row as the API shows it, with the number of keys that work."""
    return UserOut(
        name=user.name, email=user.email, admin=user.admin,
        groups=sorted(g.name for g in user.groups), slack_id=user.slack_id,
        default_collection=user.default_collection, created_at=aware(user.created_at), keys=keys,
        password=user.password_hash is not None, sso=user.sso_subject is not None,
        disabled=user.disabled_at is not None,
    )  # fmt: skip


@router.get("/me")
async def me(caller: CurrentUser) -> MeOut:
    """Who you are signed in as."""
    return MeOut(name=caller.name, admin=caller.admin, groups=sorted(caller.groups))


@router.post("/users", status_code=status.HTTP_201_CREATED)
def create_user(body: UserIn, admin: AdminUser, session: SessionDep) -> UserOut:
    """Create a user in existing groups (admin)."""
    user = accounts.create_user(session, admin.name, body.name, body.email, body.groups, body.admin)
    session.commit()
    return user_out(user, 0)


@router.get("/users")
def list_users(_: AdminUser, session: SessionDep) -> list[UserOut]:
    """Every user, with how many of their keys work (admin)."""
    keys = accounts.working_keys(session)
    return [user_out(u, keys[u.id]) for u in session.scalars(select(User).order_by(User.name))]


@router.patch("/users/{name}")
def change_user(name: str, body: UserChangeIn, admin: AdminUser, session: SessionDep) -> UserOut:
    """Change a user's e-mail, groups, admin flag, Slack link or default collection, or disable
    them (their sessions and keys stop at once) or enable them again (admin)."""
    changes = body.model_dump(exclude_unset=True)
    disabled = changes.pop("disabled", None)
    user = accounts.change_user(session, admin.name, name, **changes) if changes else None
    if disabled is not None:
        if disabled and name == admin.name:
            raise Conflict("you cannot disable yourself; ask another admin")
        user = accounts.find_user(session, name)
        set_disabled(session, user, disabled, admin.name)
    user = user or accounts.find_user(session, name)
    session.commit()
    return user_out(user, accounts.working_keys(session)[user.id])


@router.delete("/users/{name}")
def delete_user(name: str, admin: AdminUser, session: SessionDep) -> DeletedOut:
    """Delete a user; their keys stop working at once (admin)."""
    user = accounts.find_user(session, name)
    accounts.delete_user(session, admin.name, name)
    session.commit()
    return DeletedOut(id=user.id)


@router.post("/users/{name}/keys", status_code=status.HTTP_201_CREATED)
def create_key(
    name: str, admin: AdminUser, session: SessionDep, body: KeyIn | None = None
) -> KeyOut:
    """A new API key for the user; `key` is shown only in this answer (admin)."""
    user = accounts.find_user(session, name)
    days = body.expires_in_days if body else None
    key_id, key = accounts.issue_key(session, admin.name, user, days=days)
    session.commit()
    row = session.get(ApiKey, key_id)
    assert row is not None
    return key_out(row, user.name, key)


@router.get("/users/{name}/keys")
def list_keys(name: str, _: AdminUser, session: SessionDep) -> list[KeyOut]:
    """The user's keys, revoked ones included (admin)."""
    user = accounts.find_user(session, name)
    keys = session.scalars(select(ApiKey).where(ApiKey.user_id == user.id)).all()
    return [key_out(k, user.name) for k in keys]


@router.delete("/keys/{key_id}")
def revoke_key(key_id: str, admin: AdminUser, session: SessionDep) -> DeletedOut:
    """Revoke a key; it stops working with the next request (admin)."""
    accounts.revoke_key(session, admin.name, key_id)
    session.commit()
    return DeletedOut(id=key_id)


@router.post("/groups", status_code=status.HTTP_201_CREATED)
def create_group(body: GroupIn, admin: AdminUser, session: SessionDep) -> GroupOut:
    """Create a group (admin)."""
    group = accounts.create_group(session, admin.name, body.name)
    session.commit()
    return GroupOut(name=group.name, members=[], created_at=aware(group.created_at))


@router.get("/groups")
def list_groups(_: AdminUser, session: SessionDep) -> list[GroupOut]:
    """Every group with its members (admin)."""
    groups = session.scalars(select(Group).order_by(Group.name)).all()
    users = session.scalars(select(User)).all()
    members = {g.name: sorted(u.name for u in users if g in u.groups) for g in groups}
    return [GroupOut(name=g.name, members=members[g.name], created_at=aware(g.created_at))
            for g in groups]  # fmt: skip


@router.delete("/groups/{name}")
def delete_group(name: str, admin: AdminUser, session: SessionDep) -> DeletedOut:
    """Delete a group and every grant made to it (admin)."""
    accounts.delete_group(session, admin.name, name)
    session.commit()
    return DeletedOut(id=name)


@router.get("/audit")
def audit_log(
    _: AdminUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    actor: str | None = None,
    action: str | None = None,
) -> list[AuditOut]:
    """The newest audit entries first: uploads, deletions, access and account changes (admin)."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if actor is not None:
        query = query.where(AuditEvent.actor == actor)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    return [
        AuditOut(id=e.id, at=aware(e.at), actor=e.actor, action=e.action, target=e.target,
                 detail=e.detail)
        for e in session.scalars(query)
    ]  # fmt: skip
