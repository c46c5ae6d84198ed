"""Who is calling: the bearer key becomes a `Caller`; admin-only routes check it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.deps import SessionDep
from core.accounts import Caller, authenticate
from core.errors import PermissionDenied, Unauthorized

# auto_error=False: our own 401 in the one error envelope; the scheme still shows in /docs.
bearer = HTTPBearer(auto_error=False, description="A gptu API key (`gptu users key NAME`).")


def current_user(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    """The caller of this request, from `Authorization: Bearer <key>` (401 without a valid one)."""
    if credentials is None or not credentials.credentials.strip():
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
    return authenticate(session, credentials.credentials.strip())


def admin_user(caller: Annotated[Caller, Depends(current_user)]) -> Caller:
    """The caller, who must be an admin (403 otherwise)."""
    if not caller.admin:
        raise PermissionDenied("only an admin may do this")
    return caller


CurrentUser = Annotated[Caller, Depends(current_user)]
AdminUser = Annotated[Caller, Depends(admin_user)]
