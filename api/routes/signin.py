"""Signing pages in: with a password, a one-time link, or single sign-on (api.routes.sso), into a
server-side session behind an HttpOnly cookie. Programs keep using API keys."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from sqlalchemy import select

from api.account_schemas import (
    LinkOut,
    LinkRedeemIn,
    PasswordIn,
    PasswordSignIn,
    ProvidersOut,
    SessionOut,
)
from api.auth import (
    COOKIE,
    AdminUser,
    CurrentUser,
    Throttle,
    base_url,
    check_origin,
    client_address,
    set_cookie,
)
from api.deps import ServicesDep, SessionDep
from core import accounts
from core.accounts import caller_of
from core.db import User, WebSession
from core.errors import NotFound, TooManyRequests, Unauthorized
from core.signin import (
    Signed,
    Started,
    create_link,
    end_session,
    redeem_link,
    set_password,
    start_session,
    verify_password,
)

router = APIRouter(prefix="/v1", tags=["sign-in"])
SSO_START = "/v1/auth/sso"


def session_out(user: User, started: Started, method: str) -> SessionOut:
    """A new session as the page sees it."""
    caller = caller_of(user)
    return SessionOut(name=caller.name, admin=caller.admin, groups=sorted(caller.groups),
                      method=method, csrf=started.csrf, expires_at=started.expires_at)  # fmt: skip


def throttled(request: Request, *keys: str) -> Throttle:
    """The app's throttle, after checking each key (an address, an account): 429 past the
    limit of wrong sign-ins."""
    throttle: Throttle = request.app.state.throttle
    try:
        for key in keys:
            throttle.check(key)
    except TooManyRequests as exc:
        wait = exc.retry_after
        raise TooManyRequests(f"too many failed sign-ins; try again in {wait} s", wait) from None
    return throttle


@router.get("/auth/providers")
def providers(services: ServicesDep) -> ProvidersOut:
    """How people may sign in here (the sign-in page asks before it shows its form)."""
    sso = bool(services.settings.oidc_issuer)
    return ProvidersOut(password=True, sso_label=services.settings.oidc_label if sso else None,
                        sso_url=SSO_START if sso else None)  # fmt: skip


@router.post("/auth/password")
def sign_in_with_password(
    body: PasswordSignIn, request: Request, response: Response, services: ServicesDep
) -> SessionOut:
    """Sign a page in with a name and password: sets the session cookie. One message for an
    unknown name and a wrong password; 429 after too many failures from the address or for
    the account."""
    settings = services.settings
    check_origin(request, settings.public_url)
    address, account = client_address(request), f"account:{body.name.strip().lower()}"
    throttle = throttled(request, address, account)
    try:
        with services.db.session() as session:
            user = verify_password(session, body.name, body.password)
            started = start_session(session, user, "password", settings.session_max_hours,
                                    address, request.headers.get("user-agent"))  # fmt: skip
            out = session_out(user, started, "password")
    except Unauthorized:
        throttle.failed(address)
        throttle.failed(account)
        raise
    set_cookie(response, started, request, settings)
    return out


@router.get("/auth/session")
def current_session(caller: CurrentUser, request: Request, session: SessionDep) -> SessionOut:
    """The page's own session (401 when the page is not signed in, or calls with a key)."""
    signed: Signed | None = getattr(request.state, "signed", None)
    if signed is None:
        raise Unauthorized("no session: this request came with an API key")
    row = session.get(WebSession, signed.session_id)
    method = row.method if row is not None else "password"
    return SessionOut(name=caller.name, admin=caller.admin, groups=sorted(caller.groups),
                      method=method, csrf=signed.csrf, expires_at=signed.expires_at)  # fmt: skip


@router.post("/auth/signout", status_code=status.HTTP_204_NO_CONTENT)
def sign_out(caller: CurrentUser, request: Request, services: ServicesDep) -> Response:
    """End the page's session on the server (every tab and replica) and drop its cookie."""
    token = request.cookies.get(COOKIE)
    if token:
        with services.db.session() as session:
            end_session(session, token)
            accounts.audit(session, caller.name, "session.end", caller.name)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.post("/auth/link")
def sign_in_with_link(
    body: LinkRedeemIn, request: Request, response: Response, services: ServicesDep
) -> SessionOut:
    """Use a one-time link: set the password it was made for, and sign the page in."""
    settings = services.settings
    check_origin(request, settings.public_url)
    address = client_address(request)
    throttle = throttled(request, address)
    try:
        with services.db.session() as session:
            user = redeem_link(session, body.token, body.password)
            started = start_session(session, user, "link", settings.session_max_hours,
                                    address, request.headers.get("user-agent"))  # fmt: skip
            out = session_out(user, started, "link")
    except Unauthorized:
        throttle.failed(address)
        raise
    set_cookie(response, started, request, settings)
    return out


def named_user(session: SessionDep, name: str) -> User:
    """The user of this name (404 otherwise)."""
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"no user {name!r}")
    return user


@router.post("/users/{name}/link", status_code=status.HTTP_201_CREATED)
def make_link(
    name: str, admin: AdminUser, session: SessionDep, request: Request, services: ServicesDep
) -> LinkOut:
    """A one-time link for the user to choose a password (admin; shown once; an earlier
    unused link of theirs stops working)."""
    user = named_user(session, name)
    token, ends = create_link(session, user, admin.name, services.settings.sign_in_link_hours)
    session.commit()
    return LinkOut(url=f"{base_url(request, services.settings)}/welcome#{token}", expires_at=ends)


@router.put("/users/{name}/password", status_code=status.HTTP_204_NO_CONTENT)
def put_password(name: str, body: PasswordIn, admin: AdminUser, session: SessionDep) -> Response:
    """Set a user's password (admin); their sessions end."""
    set_password(session, named_user(session, name), body.password, admin.name)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
