"""Signing pages in: with a password, a one-time link, or single sign-on (api.routes.sso), into a
server-side session behind an HttpOnly cookie. Programs keep using API keys."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from fastapi import APIRouter, Request, Response, status
from sqlalchemy.orm import Session

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
from core.db import User
from core.errors import TooManyRequests, Unauthorized
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


def signed_in(
    request: Request,
    response: Response,
    services: ServicesDep,
    method: str,
    check: Callable[[Session], User],
    account: str | None = None,
) -> SessionOut:
    """Sign a page in as whoever `check` finds (a browser's request must come from our own
    pages): a new session and its cookie. A refusal counts against the address (and the
    account, when named); 429 once either has too many."""
    settings = services.settings
    check_origin(request, settings.public_url)
    address = client_address(request)
    keys = [address] if account is None else [address, account]
    throttle = throttled(request, *keys)
    try:
        with services.db.session() as session:
            user = check(session)
            started = start_session(session, user, method, settings.session_max_hours,
                                    address, request.headers.get("user-agent"))  # fmt: skip
            out = session_out(user, started, method)
    except Unauthorized:
        for key in keys:
            throttle.failed(key)
        raise
    set_cookie(response, started, request, settings)
    return out


@router.post("/auth/password")
def sign_in_with_password(
    body: PasswordSignIn, request: Request, response: Response, services: ServicesDep
) -> SessionOut:
    """Sign a page in with a name and password: sets the session cookie. One message for an
    unknown name and a wrong password; 429 after too many failures from the address or for
    the account."""
    account = f"account:{body.name.strip().lower()}"
    check = partial(verify_password, name=body.name, password=body.password)
    return signed_in(request, response, services, "password", check, account)


@router.get("/auth/session")
def current_session(caller: CurrentUser, request: Request) -> SessionOut:
    """The page's own session (401 when the page is not signed in, or calls with a key)."""
    signed: Signed | None = getattr(request.state, "signed", None)
    if signed is None:
        raise Unauthorized("no session: this request came with an API key")
    return SessionOut(
        name=caller.name, admin=caller.admin, groups=sorted(caller.groups),
        method=signed.method, csrf=signed.csrf, expires_at=signed.expires_at,
    )  # fmt: skip


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
    check = partial(redeem_link, token=body.token, password=body.password)
    return signed_in(request, response, services, "link", check)


@router.post("/users/{name}/link", status_code=status.HTTP_201_CREATED)
def make_link(
    name: str, admin: AdminUser, session: SessionDep, request: Request, services: ServicesDep
) -> LinkOut:
    """A one-time link for the user to choose a password (admin; shown once; an earlier
    unused link of theirs stops working)."""
    user = accounts.find_user(session, name)
    token, ends = create_link(session, user, admin.name, services.settings.sign_in_link_hours)
    session.commit()
    return LinkOut(url=f"{base_url(request, services.settings)}/welcome#{token}", expires_at=ends)


@router.put("/users/{name}/password", status_code=status.HTTP_204_NO_CONTENT)
def put_password(name: str, body: PasswordIn, admin: AdminUser, session: SessionDep) -> Response:
    """Set a user's password (admin); their sessions end."""
    set_password(session, accounts.find_user(session, name), body.password, admin.name)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
