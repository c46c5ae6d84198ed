"""The whole authorization-code flow against the real provider, and every refusal case, with the
product venv's own packages (httpx, PyJWT[crypto]). Not a pytest file (pytest does not collect it):

    .venv/bin/python tests/oidc/demo_flow.py

It stops at the redirect to the callback URL instead of requesting it, so no API needs to run.
"""

from __future__ import annotations

import json
import secrets
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt  # PyJWT

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import LoginFailed, OIDCProvider, authorize_url, drive_login, pkce_pair

CALLBACK = "http://127.0.0.1:8765/v1/auth/sso/callback"
CLIENTS = [
    {"client_id": "gptu", "client_secret": "gptu-secret", "redirect_uris": [CALLBACK]},
    {"client_id": "other-app", "client_secret": "other-secret", "redirect_uris": [CALLBACK]},
]
SECRETS = {c["client_id"]: c["client_secret"] for c in CLIENTS}


def login(
    op: OIDCProvider,
    user: str,
    password: str,
    client_id: str = "gptu",
    http: httpx.Client | None = None,
    **kw,
) -> dict:
    """Authorize -> sign in -> consent -> callback: the callback's query and the flow's secrets."""
    verifier, challenge = pkce_pair()
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    url = authorize_url(
        op,
        client_id=client_id,
        redirect_uri=CALLBACK,
        state=state,
        nonce=nonce,
        code_challenge=challenge,
    )
    if http is not None:
        cb = drive_login(http, url, user, password, stop_at=CALLBACK, **kw)
    else:
        with httpx.Client(timeout=10) as h:
            cb = drive_login(h, url, user, password, stop_at=CALLBACK, **kw)
    q = {k: v[0] for k, v in parse_qs(urlsplit(cb).query).items()}
    return {
        "query": q,
        "state": state,
        "nonce": nonce,
        "verifier": verifier,
        "client_id": client_id,
    }


def exchange(op: OIDCProvider, flow: dict, verifier: str | None = None) -> httpx.Response:
    cid = flow["client_id"]
    return httpx.post(
        op.discovery()["token_endpoint"],
        auth=(cid, SECRETS[cid]),
        timeout=10,
        data={
            "grant_type": "authorization_code",
            "code": flow["query"]["code"],
            "redirect_uri": CALLBACK,
            "code_verifier": verifier or flow["verifier"],
        },
    )


def verify(
    op: OIDCProvider,
    id_token: str,
    *,
    issuer: str,
    audience: str = "gptu",
    nonce: str | None = None,
    leeway: int = 0,
) -> dict:
    """The product's callback checks: signature (the issuer's JWKS), iss, aud, exp, iat, nonce."""
    key = jwt.PyJWKClient(op.discovery()["jwks_uri"]).get_signing_key_from_jwt(id_token)
    claims = jwt.decode(
        id_token,
        key.key,
        algorithms=["RS256"],
        audience=audience,
        issuer=issuer,
        leeway=leeway,
        options={"require": ["iss", "sub", "aud", "exp", "iat"]},
    )
    if nonce is not None and claims.get("nonce") != nonce:
        raise jwt.InvalidTokenError("nonce mismatch")
    return claims


def expect(exc, fn, *a, **kw):
    try:
        fn(*a, **kw)
    except exc as e:
        return f"{type(e).__name__}: {e}"
    raise AssertionError(f"expected {exc}")


def main() -> None:
    keys = Path(tempfile.mkdtemp()) / "jwks.json"  # shared by A and the "other issuer" B
    t0 = time.monotonic()
    with OIDCProvider({"clients": CLIENTS, "keys_file": str(keys)}) as op:
        print(f"A started in {time.monotonic() - t0:.2f}s: {op.issuer}")

        # 1. the happy path
        t1 = time.monotonic()
        flow = login(op, "alice", "alice-pw")
        q = flow["query"]
        assert q["state"] == flow["state"] and q["iss"] == op.issuer, (
            q
        )  # RFC 9207 `iss` in the response
        r = exchange(op, flow)
        r.raise_for_status()
        tokens = r.json()
        claims = verify(op, tokens["id_token"], issuer=op.issuer, nonce=flow["nonce"])
        print(f"flow in {time.monotonic() - t1:.2f}s; ID token claims:", json.dumps(claims))
        assert claims["sub"] == "alice" and claims["email"] == "alice@example.com"
        assert claims["groups"] == ["hr", "staff"]
        bob = verify(
            op, exchange(op, login(op, "bob", "bob-pw")).json()["id_token"], issuer=op.issuer
        )
        assert bob["groups"] == ["sales"], bob
        carol = verify(
            op, exchange(op, login(op, "carol", "carol-pw")).json()["id_token"], issuer=op.issuer
        )
        assert "groups" not in carol and carol["email_verified"] is False, carol

        # 2. replayed code: the provider refuses the second exchange, and revokes what the first got
        r2 = exchange(op, flow)
        print("replayed code:", r2.status_code, r2.json())
        assert r2.status_code == 400 and r2.json()["error"] == "invalid_grant"
        info = httpx.get(
            op.discovery()["userinfo_endpoint"],
            timeout=5,
            headers={"Authorization": f"Bearer {tokens['access_token']}"},
        )
        print("access token of the replayed code afterwards:", info.status_code)

        # 3. PKCE: wrong verifier -> invalid_grant; no code_challenge at all -> refused at /auth
        f3 = login(op, "alice", "alice-pw")
        r3 = exchange(op, f3, verifier=pkce_pair()[0])
        print("wrong PKCE verifier:", r3.status_code, r3.json())
        assert r3.json()["error"] == "invalid_grant"
        r3b = httpx.get(
            op.discovery()["authorization_endpoint"],
            follow_redirects=False,
            params={
                "response_type": "code",
                "client_id": "gptu",
                "redirect_uri": CALLBACK,
                "scope": "openid",
                "state": "s",
                "nonce": "n",
            },
        )
        print("no PKCE:", r3b.status_code, r3b.headers.get("location"))

        # 4. another audience: a genuine token of the same issuer for client `other-app`
        other = exchange(op, login(op, "alice", "alice-pw", client_id="other-app")).json()[
            "id_token"
        ]
        print(
            "other audience:", expect(jwt.InvalidAudienceError, verify, op, other, issuer=op.issuer)
        )

        # 5. wrong password, unknown user, Deny on the consent page
        print("wrong password:", expect(LoginFailed, login, op, "alice", "nope"))
        print("unknown user:", expect(LoginFailed, login, op, "mallory", "x"))
        denied = login(op, "bob", "bob-pw", consent=False)["query"]
        print("deny:", denied)
        assert denied["error"] == "access_denied"

        # 6. nonce: the ID token carries the request's nonce; a different expected nonce is refused
        print(
            "nonce mismatch:",
            expect(
                jwt.InvalidTokenError,
                verify,
                op,
                tokens["id_token"],
                issuer=op.issuer,
                nonce="something-else",
            ),
        )

        # 7. another issuer: B signs with the SAME key (keys_file): only the `iss` check can refuse
        with OIDCProvider({"clients": CLIENTS, "keys_file": str(keys)}) as opb:
            tok_b = exchange(opb, login(opb, "alice", "alice-pw")).json()["id_token"]
            print(
                "other issuer:", expect(jwt.InvalidIssuerError, verify, op, tok_b, issuer=op.issuer)
            )
        # ... and C with its own key: A's JWKS has no key for it
        with OIDCProvider({"clients": CLIENTS}) as opc:
            tok_c = exchange(opc, login(opc, "alice", "alice-pw")).json()["id_token"]
            print("other key:", expect(jwt.PyJWKClientError, verify, op, tok_c, issuer=op.issuer))
        # ... and D, a "lying" provider: its own port, but its metadata and tokens say A's issuer
        with OIDCProvider({"clients": CLIENTS, "issuer": op.issuer}) as opd:
            print(
                "lying provider: discovery issuer",
                opd.discovery()["issuer"],
                "served from",
                opd.base_url,
            )
            tok_d = exchange(opd, login(opd, "alice", "alice-pw")).json()["id_token"]
            # right iss, but signed by D's key: only A's JWKS check can refuse it
            print("impostor:", expect(jwt.PyJWKClientError, verify, op, tok_d, issuer=op.issuer))

    # 8. expired: (a) a 1 s ID-token TTL, validated 2 s later; (b) a provider whose clock is 10 min
    #    behind, so the token is expired on arrival whatever the product's leeway
    with OIDCProvider({"clients": CLIENTS, "id_token_ttl": 1}) as ope:
        f = login(ope, "alice", "alice-pw")
        tok = exchange(ope, f).json()["id_token"]
        c = verify(ope, tok, issuer=ope.issuer)
        print("ttl 1 s: exp - iat =", c["exp"] - c["iat"])
        time.sleep(2.1)
        print(
            "expired (ttl 1 s):",
            expect(jwt.ExpiredSignatureError, verify, ope, tok, issuer=ope.issuer),
        )
    with OIDCProvider({"clients": CLIENTS, "clock_skew_s": -600, "id_token_ttl": 60}) as opk:
        tok = exchange(opk, login(opk, "alice", "alice-pw")).json()["id_token"]
        c = jwt.decode(tok, options={"verify_signature": False})
        print(
            f"skewed clock: iat {c['iat'] - time.time():.0f}s, "
            f"exp {c['exp'] - time.time():.0f}s from now;",
            expect(jwt.ExpiredSignatureError, verify, opk, tok, issuer=opk.issuer, leeway=60),
        )

    # 9. a second sign-in in the same browser session: no password page (SSO session cookie)
    with (
        OIDCProvider({"clients": CLIENTS, "auto_consent": True}) as opa,
        httpx.Client(timeout=10) as h,
    ):
        first = login(opa, "alice", "alice-pw", http=h)
        assert "code" in first["query"], first
        again = login(opa, "ignored", "ignored", http=h)
        print("auto_consent + SSO session: code without any form:", "code" in again["query"])
    print("all OK")


if __name__ == "__main__":
    main()
