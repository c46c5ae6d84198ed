"""Single sign-on with an OpenID Connect provider (GPTU_OIDC_*): the sign-in page's SSO button
opens `/v1/auth/sso`, the provider sends the browser back to `/v1/auth/sso/callback`, which
signs the page in with the same session cookie as a password does. A person sees what went
wrong on a small page, not as JSON."""

from __future__ import annotations

import logging
import secrets
from html import escape
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse

from api.auth import base_url, client_address, set_cookie
from api.deps import ServicesDep
from app.services import Services
from app.sso import OidcClient
from core.errors import GptuError, InvalidRequest, NotFound, Unauthorized
from core.signin import start_session
from core.sso import PENDING, Pending, begin, person_for, take

router = APIRouter(prefix="/v1/auth", tags=["sign-in"])
log = logging.getLogger(__name__)
STATE_COOKIE = "gptu_sso"  # ties the provider's answer to the browser that asked for it
CALLBACK = "/v1/auth/sso/callback"
NO_STORE = {"Cache-Control": "no-store"}


def oidc_client(request: Request, services: ServicesDep) -> OidcClient:
    """The app's OpenID Connect client, made on first use and kept on the app, so that the
    provider's discovery and keys are fetched once per process (404 when SSO is not set up)."""
    settings = services.settings
    if not (settings.oidc_issuer and settings.oidc_client_id):
        raise NotFound("single sign-on is not set up here")
    client: OidcClient | None = getattr(request.app.state, "oidc", None)
    if client is None:
        request.app.state.oidc = client = OidcClient.from_settings(settings)
    return client


Oidc = Annotated[OidcClient, Depends(oidc_client)]


def page(status_code: int, message: str) -> HTMLResponse:
    """A plain page saying why signing in did not work, with a way back."""
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<title>Sign-in did not work · gptu</title><link rel="stylesheet" href="/static/style.css">'
        f"</head><body><main><h1>Sign-in did not work</h1><p>{escape(message)}</p>"
        '<p><a href="/">Back to gptu</a></p></main></body></html>'
    )
    response = HTMLResponse(body, status_code=status_code, headers=NO_STORE)
    response.delete_cookie(STATE_COOKIE, path="/v1/auth/sso")
    return response


@router.get("/sso", status_code=status.HTTP_302_FOUND, response_class=RedirectResponse)
def start_sso(
    request: Request,
    services: ServicesDep,
    oidc: Oidc,
    return_to: Annotated[str | None, Query(alias="next", max_length=2000)] = None,
) -> Response:
    """Begin single sign-on: off to the identity provider's sign-in; back at `next` (a path
    on this server) once signed in."""
    settings = services.settings
    try:
        oidc.metadata()  # a provider that does not answer leaves no pending sign-in behind
        with services.db.session() as session:
            pending = begin(session, return_to)
        target = oidc.authorization_url(f"{base_url(request, settings)}{CALLBACK}", pending)
    except GptuError as exc:
        return page(exc.status, exc.message)
    response = RedirectResponse(target, status_code=status.HTTP_302_FOUND, headers=NO_STORE)
    response.set_cookie(STATE_COOKIE, pending.state, max_age=int(PENDING.total_seconds()),
                        path="/v1/auth/sso", httponly=True, samesite="lax",
                        secure=base_url(request, settings).startswith("https:"))  # fmt: skip
    return response


@router.get("/sso/callback", status_code=status.HTTP_302_FOUND, response_class=RedirectResponse)
def finish_sso(
    request: Request,
    services: ServicesDep,
    oidc: Oidc,
    code: Annotated[str | None, Query(max_length=8000)] = None,  # some IdPs send long ones
    state: Annotated[str | None, Query(max_length=200)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
    error_description: Annotated[str | None, Query(max_length=8000)] = None,
    iss: Annotated[str | None, Query(max_length=2000)] = None,
) -> Response:
    """Where the identity provider sends the browser back: check its answer, sign the page
    in (the session cookie) and go on to where the sign-in began."""
    try:
        pending = checked_answer(request, services, oidc, state, iss, error, error_description)
        if not code:
            raise InvalidRequest("the identity provider sent no sign-in code")
        return signed_in(request, services, oidc, code, pending)
    except GptuError as exc:
        log.info("sso: sign-in refused (%s): %s", exc.code, exc.message)
        return page(exc.status, exc.message)


def checked_answer(
    request: Request,
    services: Services,
    oidc: OidcClient,
    state: str | None,
    iss: str | None,
    error: str | None,
    error_description: str | None,
) -> Pending:
    """The pending sign-in that the provider's answer finishes, used up: it must come back
    to the browser that began it, within ten minutes, once, from our provider, without error."""
    bound = request.cookies.get(STATE_COOKIE, "")
    if not state or not secrets.compare_digest(bound.encode(), state.encode()):
        raise InvalidRequest(
            "this sign-in was started in another browser, or long ago: start again"
        )
    with services.db.session() as session:
        pending = take(session, state)
    if error:
        said = f"{error}: {error_description}" if error_description else error
        raise Unauthorized(f"the identity provider did not sign you in ({said[:400]})")
    if iss is not None and iss != oidc.issuer:  # RFC 9207: the answer of another provider
        raise InvalidRequest("this answer came from another identity provider")
    return pending


def signed_in(
    request: Request, services: Services, oidc: OidcClient, code: str, pending: Pending
) -> Response:
    """Trade the code for the person's checked claims and sign the page in as them (a sync
    route's work: FastAPI runs it on a pool thread)."""
    settings = services.settings
    claims = oidc.sign_in(code, f"{base_url(request, settings)}{CALLBACK}", pending)
    with services.db.session() as session:
        user = person_for(
            session, claims, oidc.issuer, settings.oidc_create_users, settings.oidc_groups_claim
        )
        agent = request.headers.get("user-agent")
        started = start_session(
            session, user, "sso", settings.session_max_hours, client_address(request), agent
        )
    response = RedirectResponse(
        pending.return_to, status_code=status.HTTP_302_FOUND, headers=NO_STORE
    )
    set_cookie(response, started, request, settings)
    response.delete_cookie(STATE_COOKIE, path="/v1/auth/sso")
    return response
