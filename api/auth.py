"""Who is calling: the bearer key becomes a `Caller`; admin-only routes check it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.deps import get_services
from core.accounts import Caller, authenticate
from core.errors import PermissionDenied, Unauthorized


def current_user(request: Request) -> Caller:
    """The caller of this request, from `Authorization: Bearer <key>` (401 without a valid one)."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
    with get_services(request).db.session() as session:
        return authenticate(session, key.strip())


def admin_user(caller: Annotated[Caller, Depends(current_user)]) -> Caller:
    """The caller, who must be an admin (403 otherwise)."""
    if not caller.admin:
        raise PermissionDenied("only an admin may do this")
    return caller


CurrentUser = Annotated[Caller, Depends(current_user)]
AdminUser = Annotated[Caller, Depends(admin_user)]
