"""The OpenID Connect client of single sign-on: the provider's discovery document (fetched
once per process), the authorization URL, the code exchange (client_secret_basic with the PKCE
verifier) and the ID token's checks (signature by the provider's keys, issuer, audience,
expiry, nonce). It asks only the configured issuer and the endpoints its discovery names."""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlencode, urlsplit

import httpx
import jwt

from core.settings import Settings
from core.sso import IdentityProviderError, Pending

log = logging.getLogger(__name__)
# Only signatures made with the provider's private key count: never "none", never HS*, for
# which the client secret would be the key.
ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
              "EdDSA")  # fmt: skip
LEEWAY = 60  # seconds of clock difference allowed between the provider and us
TIMEOUT = 10.0
REQUIRED = ["iss", "sub", "aud", "exp", "iat"]


@dataclass(frozen=True)
class Metadata:
    """What gptu uses of the provider's discovery document."""

    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    algorithms: list[str]
    scope: str


def metadata_of(issuer: str, document: dict[str, Any]) -> Metadata:
    """Read a discovery document; it must be the issuer's own (OpenID Discovery 4.3)."""
    if document.get("issuer") != issuer:
        raise IdentityProviderError(
            f"the provider's discovery names the issuer {document.get('issuer')!r}, "
            f"not {issuer!r}: check GPTU_OIDC_ISSUER"
        )
    schemes = {"https", urlsplit(issuer).scheme}  # no http endpoints for an https issuer
    endpoints: dict[str, str] = {}
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        url = document.get(name)
        if not isinstance(url, str) or urlsplit(url).scheme not in schemes:
            raise IdentityProviderError(f"the provider's discovery has no usable {name}: {url!r}")
        endpoints[name] = url
    offered = document.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = [a for a in ASYMMETRIC if a in offered]
    if not algorithms:
        raise IdentityProviderError(f"the provider signs ID tokens only with {offered}")
    scopes = ["openid", "email", "profile"]
    if "groups" in (document.get("scopes_supported") or []):
        scopes.append("groups")
    return Metadata(**endpoints, algorithms=algorithms, scope=" ".join(scopes))


class OidcClient:
    """gptu as a client of one provider; safe to share between threads."""

    def __init__(self, issuer: str, client_id: str, client_secret: str) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.client_secret = client_secret
        self.lock = threading.Lock()
        self.meta: Metadata | None = None
        self.keys: jwt.PyJWKClient | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> OidcClient:
        """The client GPTU_OIDC_* describe (nothing is fetched yet)."""
        return cls(settings.oidc_issuer, settings.oidc_client_id, settings.oidc_client_secret)

    def metadata(self) -> Metadata:
        """The provider's discovery, fetched on first use and kept for the process."""
        with self.lock:
            if self.meta is None:
                url = f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"
                document = self.get_json(url)
                self.meta = metadata_of(self.issuer, document)
                self.keys = jwt.PyJWKClient(self.meta.jwks_uri, timeout=TIMEOUT)
            return self.meta

    def get_json(self, url: str) -> dict[str, Any]:
        """A JSON object from the provider; 502 when it does not answer with one."""
        try:
            answer = httpx.get(url, timeout=TIMEOUT)
            answer.raise_for_status()
            document = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("sso: %s: %s", url, exc)
            raise IdentityProviderError("the identity provider does not answer; try later") from exc
        if not isinstance(document, dict):
            raise IdentityProviderError("the identity provider's discovery is not a JSON object")
        return document

    def authorization_url(self, redirect_uri: str, pending: Pending) -> str:
        """Where to send the browser: the provider's sign-in, for an authorization code."""
        meta = self.metadata()
        query = urlencode({
            "response_type": "code", "client_id": self.client_id, "redirect_uri": redirect_uri,
            "scope": meta.scope, "state": pending.state, "nonce": pending.nonce,
            "code_challenge": pending.challenge, "code_challenge_method": "S256",
        })  # fmt: skip
        joiner = "&" if urlsplit(meta.authorization_endpoint).query else "?"
        return f"{meta.authorization_endpoint}{joiner}{query}"

    def sign_in(self, code: str, redirect_uri: str, pending: Pending) -> dict[str, Any]:
        """The checked ID-token claims of an authorization code."""
        return self.verify(self.exchange(code, redirect_uri, pending.verifier), pending.nonce)

    def exchange(self, code: str, redirect_uri: str, verifier: str) -> str:
        """Trade the code (with the PKCE verifier) for an ID token at the token endpoint."""
        meta = self.metadata()
        form = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": redirect_uri, "code_verifier": verifier}  # fmt: skip
        # RFC 6749 2.3.1: id and secret are form-encoded before Basic authentication
        auth = (quote_plus(self.client_id), quote_plus(self.client_secret))
        try:
            answer = httpx.post(meta.token_endpoint, data=form, auth=auth, timeout=TIMEOUT,
                                headers={"Accept": "application/json"})  # fmt: skip
            body = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("sso: token endpoint: %s", exc)
            raise IdentityProviderError("the identity provider does not answer; try later") from exc
        said = body if isinstance(body, dict) else {}
        token = said.get("id_token")
        if answer.status_code != 200 or not isinstance(token, str):
            error = said.get("error")  # the rest may hold tokens: not logged
            log.warning("sso: token endpoint: %s %s %s", answer.status_code, error,
                        said.get("error_description"))  # fmt: skip
            raise IdentityProviderError(
                f"the identity provider refused the sign-in ({error or answer.status_code}): "
                "it may have been used already or taken too long; start again"
            )
        return token

    def verify(self, id_token: str, nonce: str) -> dict[str, Any]:
        """The claims of an ID token made by this issuer for this client, for the sign-in
        with this nonce, and not expired; 502 naming what failed otherwise."""
        meta = self.metadata()
        assert self.keys is not None  # set with the metadata
        try:
            key = self.keys.get_signing_key_from_jwt(id_token)
            claims: dict[str, Any] = jwt.decode(
                id_token, key, algorithms=meta.algorithms, audience=self.client_id,
                issuer=self.issuer, leeway=LEEWAY, options={"require": REQUIRED},
            )  # fmt: skip
        except jwt.PyJWKClientConnectionError as exc:
            log.warning("sso: keys at %s: %s", meta.jwks_uri, exc)
            raise IdentityProviderError("the identity provider does not answer; try later") from exc
        except jwt.PyJWTError as exc:
            log.warning("sso: ID token refused: %s: %s", type(exc).__name__, exc)
            raise IdentityProviderError(
                f"the identity provider's answer did not check out: {exc}"
            ) from exc
        azp = claims.get("azp")
        several = isinstance(claims["aud"], list) and len(claims["aud"]) > 1
        if (azp is not None or several) and azp != self.client_id:
            raise IdentityProviderError("the ID token was made for another application")
        if not secrets.compare_digest(str(claims.get("nonce", "")).encode(), nonce.encode()):
            raise IdentityProviderError("the ID token belongs to another sign-in (nonce)")
        if not isinstance(claims["sub"], str) or not claims["sub"]:
            raise IdentityProviderError("the ID token names nobody (no sub)")
        return claims
