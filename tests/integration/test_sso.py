"""Single sign-on against a real OpenID provider (tests/oidc: panva's oidc-provider under Node),
on a stack of its own. httpx plays the browser: it follows the SSO button to the provider, fills
its sign-in and consent forms, and brings the code back to gptu's callback.

Two more APIs share the stack's database: one whose provider's clock runs ten minutes behind
(its ID tokens arrive expired), and one that may not create users (GPTU_OIDC_CREATE_USERS off).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest
from sqlalchemy import create_engine, text

from app.sso import OidcClient
from cli.localstack import GPTU, ROOT, Process, Stack, free_port, stack_env, start_stack, wait_until
from core.settings import Settings
from core.signin import token_id
from core.sso import IdentityProviderError, same_origin_path
from tests.conftest import upload, wait_done
from tests.oidc.harness import OIDCProvider, authorize_url, drive_login, pkce_pair

CLIENT, SECRET = "gptu", "gptu-secret"
OTHER, OTHER_SECRET = "other-app", "other-secret"
CALLBACK = "/v1/auth/sso/callback"


def idp_user(name: str, groups: list[str] | None = None, **claims: object) -> dict[str, object]:
    """A person at the provider; password `<name>-pw`; no `groups` claim when groups is None."""
    person: dict[str, object] = {
        "password": f"{name}-pw", "email": f"{name}@example.com", "email_verified": True,
        "name": name.title(), **claims,
    }  # fmt: skip
    if groups is not None:
        person["groups"] = groups
    return person


# Each test has people of its own, so that the tests pass in any order.
PEOPLE = {
    "alice": idp_user("alice", ["hr", "staff"]),
    "bob": idp_user("bob", ["sales"]),
    "carol": idp_user("carol", email_verified=False),
    "dave": idp_user("dave", ["staff"]),
    "erin": idp_user("erin", ["staff"]),
    "frank": idp_user("frank", ["sales"]),
    "mallory": idp_user("mallory", [], preferred_username="frank"),
    "grace": idp_user("grace", ["hr"]),
    "henry": idp_user("henry", ["staff"]),
    "ivan": idp_user("ivan", ["staff"]),
    "judy": idp_user("judy", ["Sales Team", "everyone", "user:alice", "x" * 70]),
    "kim": idp_user("kim", ["staff"]),
    "leo": idp_user("leo", ["staff"]),
    "nina": idp_user("nina", ["staff"]),
}


@dataclass
class SSO:
    """The stack (SSO with users made on first sign-in), its provider, and the other APIs."""

    stack: Stack
    provider: OIDCProvider
    keys_file: Path
    strict: str  # GPTU_OIDC_CREATE_USERS off, GPTU_PUBLIC_URL set
    skewed: str  # its provider's clock is ten minutes behind
    skewed_provider: OIDCProvider

    @property
    def api(self) -> str:
        return self.stack.api_url

    def admin(self) -> httpx.Client:
        return self.stack.client()

    def sql(self, statement: str, **params: object) -> list[tuple[object, ...]]:
        """Rows of a statement on the stack's database (committed)."""
        engine = create_engine(Settings(data_dir=self.stack.data_dir).sqlalchemy_url)
        try:
            with engine.begin() as conn:
                result = conn.execute(text(statement), params)
                return [tuple(row) for row in result] if result.returns_rows else []
        finally:
            engine.dispose()

    def subject(self, sub: str) -> str:
        return f"{self.provider.issuer} {sub}"


def browser() -> httpx.Client:
    """A fresh browser: cookies only, no key."""
    return httpx.Client(timeout=30)


def to_callback(client: httpx.Client, api: str, person: str, start: str = "/v1/auth/sso") -> str:
    """Press the SSO button and sign in at the provider; the callback URL (not yet opened)."""
    return drive_login(client, f"{api}{start}", person, f"{person}-pw", stop_at=f"{api}{CALLBACK}")


def sign_in(
    client: httpx.Client, api: str, person: str, start: str = "/v1/auth/sso"
) -> httpx.Response:
    """The whole flow; the callback's answer (a 302 home with the session cookie, or a page)."""
    return client.get(to_callback(client, api, person, start), follow_redirects=False)


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def refused(answer: httpx.Response, status: int, words: str) -> None:
    """A plain page saying why, linking home, and no session."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert words in answer.text and '<a href="/">' in answer.text, answer.text
    assert "gptu_session" not in answer.headers.get("set-cookie", "")


def me(client: httpx.Client, api: str) -> dict:
    answer = client.get(f"{api}/v1/me")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def node_modules() -> None:
    """The provider's packages, or a failure that names the command installing them."""
    if not (ROOT / "tests/oidc/node_modules/oidc-provider").is_dir() and not os.environ.get(
        "OIDC_PROVIDER_NODE_MODULES"
    ):
        pytest.fail("the SSO tests need tests/oidc's packages: make test installs them, or run "
                    "npm ci --prefix tests/oidc --no-audit --no-fund")  # fmt: skip


def client_of(api: str, *apis: str) -> list[dict[str, object]]:
    callbacks = [f"{a}{CALLBACK}" for a in (api, *apis)]
    return [
        {"client_id": CLIENT, "client_secret": SECRET, "redirect_uris": callbacks},
        {"client_id": OTHER, "client_secret": OTHER_SECRET, "redirect_uris": callbacks},
    ]


@pytest.fixture(scope="module")
def sso(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSO]:
    node_modules()
    folder = tmp_path_factory.mktemp("sso")
    env = stack_env(folder, GPTU_MAX_ANSWER_TOKENS="16", GPTU_DOCTOR_INTERVAL="0",
                    GPTU_SWEEP_INTERVAL="0.5")  # fmt: skip
    strict = f"http://127.0.0.1:{free_port()}"
    skewed = f"http://127.0.0.1:{free_port()}"
    keys = folder / "jwks.json"
    with ExitStack() as cleanup:
        provider = cleanup.enter_context(OIDCProvider({
            "clients": client_of(env["GPTU_API_URL"], strict), "users": PEOPLE,
            "keys_file": str(keys),
        }))  # fmt: skip
        skewed_provider = cleanup.enter_context(OIDCProvider({
            "clients": client_of(skewed), "users": PEOPLE, "clock_skew_s": -600,
            "id_token_ttl": 60,
        }))  # fmt: skip
        oidc = {"GPTU_OIDC_CLIENT_ID": CLIENT, "GPTU_OIDC_CLIENT_SECRET": SECRET}
        env.update(oidc, GPTU_OIDC_ISSUER=provider.issuer, GPTU_OIDC_CREATE_USERS="true")
        stack = start_stack(folder, env)
        cleanup.callback(stack.stop)
        strict_env = {**env, "GPTU_PORT": strict.rsplit(":", 1)[1], "GPTU_PUBLIC_URL": strict,
                      "GPTU_OIDC_CREATE_USERS": "false"}  # fmt: skip
        skewed_env = {**env, "GPTU_PORT": skewed.rsplit(":", 1)[1],
                      "GPTU_OIDC_ISSUER": skewed_provider.issuer}  # fmt: skip
        for name, other_env in (("strict", strict_env), ("skewed", skewed_env)):
            api = Process([*GPTU, "serve"], other_env, folder / f"{name}.log")
            api.start()
            cleanup.callback(api.stop)
        for url in (strict, skewed):
            ready = f"{url}/readyz"
            wait_until(lambda u=ready: httpx.get(u).status_code == 200, 120, f"{url} ready")
        yield SSO(stack, provider, keys, strict, skewed, skewed_provider)


def test_the_sso_button_sends_the_browser_to_the_provider_with_state_nonce_and_pkce(
    sso: SSO,
) -> None:
    providers = httpx.get(f"{sso.api}/v1/auth/providers").json()
    assert providers["sso_url"] == "/v1/auth/sso" and providers["sso_label"]
    with browser() as client:
        answer = client.get(f"{sso.api}/v1/auth/sso?next=/admin")
    assert answer.status_code == 302
    target = answer.headers["location"]
    assert target.startswith(sso.provider.discovery()["authorization_endpoint"] + "?")
    asked = query(target)
    assert asked["response_type"] == "code" and asked["client_id"] == CLIENT
    assert asked["redirect_uri"] == f"{sso.api}{CALLBACK}"
    assert asked["scope"].split() == ["openid", "email", "profile", "groups"]  # the IdP has it
    assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) == 43
    assert len(asked["state"]) >= 32 and len(asked["nonce"]) >= 32
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"gptu_sso={asked['state']};") and "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    # only the state's sha256 is stored, with the nonce, the verifier and where to go back
    [(nonce, verifier, back)] = sso.sql(
        "SELECT nonce, verifier, return_to FROM sso_logins WHERE id = :id",
        id=token_id(asked["state"]),
    )
    assert nonce == asked["nonce"] and back == "/admin"
    assert len(verifier) >= 43
    assert not sso.sql("SELECT 1 FROM sso_logins WHERE id = :s", s=asked["state"])


def test_alice_signs_in_and_reads_what_her_providers_groups_may(sso: SSO) -> None:
    with sso.admin() as admin:
        for group in ("hr", "sales"):
            assert admin.post("/v1/groups", json={"name": group}).status_code in (201, 409)
        for name, group in (("sso-hr", "hr"), ("sso-sales", "sales")):
            made = admin.post("/v1/collections", json={"name": name, "readers": [group]})
            assert made.status_code == 201, made.text
        items = upload(admin, "sso-hr", [("leave.md", b"# Leave\n\nHolidays: 31 days a year.\n")])
        items += upload(admin, "sso-sales", [("quota.md", b"# Quota\n\nHolidays: none in Q4.\n")])
        assert {d["status"] for d in wait_done(admin, [i["id"] for i in items]).values()} == {
            "ready"
        }
    with browser() as client:
        home = sign_in(client, sso.api, "alice", start="/v1/auth/sso?next=/admin%3Ftab%3Dusers")
        assert home.status_code == 302 and home.headers["location"] == "/admin?tab=users"
        session_cookie = home.headers["set-cookie"]
        assert "gptu_session=" in session_cookie and "HttpOnly" in session_cookie
        assert client.get(f"{sso.api}{home.headers['location']}").status_code == 200
        who = me(client, sso.api)
        assert who["name"] == "alice" and not who["admin"]
        assert set(who["groups"]) == {"hr", "staff", "user:alice", "everyone"}
        session = client.get(f"{sso.api}/v1/auth/session").json()
        assert session["method"] == "sso"
        seen = {
            c["name"]: c["access"]["read"] for c in client.get(f"{sso.api}/v1/collections").json()
        }
        assert seen.get("sso-hr") is True and "sso-sales" not in seen
        page = {"Origin": sso.api, "X-CSRF-Token": session["csrf"]}
        found = client.post(f"{sso.api}/v1/search", headers=page, json={"query": "holidays"})
        assert found.status_code == 200, found.text
        assert {r["filename"] for r in found.json()["results"]} == {"leave.md"}
        sales = {"query": "holidays", "collections": ["sso-sales"]}
        assert client.post(f"{sso.api}/v1/search", headers=page, json=sales).status_code in (
            403,
            404,
        )
    [(email, subject)] = sso.sql("SELECT email, sso_subject FROM users WHERE name = 'alice'")
    assert email == "alice@example.com" and subject == sso.subject("alice")


def test_bob_is_made_on_first_sign_in_and_his_groups_follow_the_provider(sso: SSO) -> None:
    assert not sso.sql("SELECT 1 FROM users WHERE sso_subject = :s", s=sso.subject("bob"))
    with browser() as client:
        home = sign_in(client, sso.api, "bob", start="/v1/auth/sso?next=https://evil.example/x")
        assert home.status_code == 302 and home.headers["location"] == "/"  # never off-site
        assert set(me(client, sso.api)["groups"]) == {"sales", "user:bob", "everyone"}
    with sso.admin() as admin:
        admin.post("/v1/groups", json={"name": "board"})
        changed = admin.patch("/v1/users/bob", json={"groups": ["sales", "board"], "admin": True})
        assert changed.status_code == 200, changed.text
        with browser() as client:
            assert (
                sign_in(client, sso.api, "bob", start="/v1/auth/sso?next=//evil.example").headers[
                    "location"
                ]
                == "/"
            )
            who = me(client, sso.api)
        # exactly the provider's groups again; the personal group and the admin flag stay
        assert set(who["groups"]) == {"sales", "user:bob", "everyone"} and who["admin"]
        audit = admin.get("/v1/audit", params={"limit": 1000}).json()
    events = [(e["actor"], e["action"]) for e in audit if e["target"] == "bob"]
    assert ("sso", "user.create") in events and ("sso", "user.groups") in events


def test_without_a_groups_claim_the_groups_stay_and_an_unverified_address_is_not_kept(
    sso: SSO,
) -> None:
    with browser() as client:
        assert sign_in(client, sso.api, "carol").status_code == 302
    with sso.admin() as admin:
        admin.post("/v1/groups", json={"name": "staff"})
        assert admin.patch("/v1/users/carol", json={"groups": ["staff"]}).status_code == 200
    with browser() as client:
        assert sign_in(client, sso.api, "carol").status_code == 302
        assert "staff" in me(client, sso.api)["groups"]  # groups managed in gptu for her
    [(email,)] = sso.sql("SELECT email FROM users WHERE name = 'carol'")
    assert email is None  # email_verified: false


def test_group_names_from_the_provider_fit_gptus_rules_and_grant_nothing_reserved(sso: SSO) -> None:
    with browser() as client:
        assert sign_in(client, sso.api, "judy").status_code == 302
        groups = set(me(client, sso.api)["groups"])
    # "Sales Team" fits as sales-team; "everyone" is everyone's anyway; "user:alice" cannot
    # become alice's personal group; a name over 64 characters is left out
    assert groups == {"sales-team", "user-alice", "user:judy", "everyone"}


def test_an_admin_made_user_is_not_taken_over_by_a_namesake_at_the_provider(sso: SSO) -> None:
    with sso.admin() as admin:
        admin.post("/v1/groups", json={"name": "hr"})
        made = admin.post("/v1/users", json={"name": "frank", "groups": ["hr"]})
        assert made.status_code == 201, made.text
    with browser() as client:
        assert sign_in(client, sso.api, "frank").status_code == 302
        who = me(client, sso.api)
    assert who["name"] == "frank-2" and "hr" not in who["groups"]
    with browser() as client:  # another person whose preferred_username is also "frank"
        assert sign_in(client, sso.api, "mallory").status_code == 302
        assert me(client, sso.api)["name"] == "frank-3"
    [(subject, email)] = sso.sql("SELECT sso_subject, email FROM users WHERE name = 'frank'")
    assert subject is None and email is None  # the admin's frank is untouched


def test_a_user_linked_by_subject_signs_in_as_themselves(sso: SSO) -> None:
    with sso.admin() as admin:
        assert admin.post("/v1/users", json={"name": "grace"}).status_code == 201
    sso.sql("UPDATE users SET sso_subject = :s WHERE name = 'grace'", s=sso.subject("grace"))
    with browser() as client:
        assert sign_in(client, sso.api, "grace").status_code == 302
        assert me(client, sso.api)["name"] == "grace"
    [(email,)] = sso.sql("SELECT email FROM users WHERE name = 'grace'")
    assert email == "grace@example.com"  # her first verified address is kept (links Slack)


def test_a_state_that_gptu_never_issued_is_refused(sso: SSO) -> None:
    state = secrets.token_urlsafe(32)
    with browser() as client:
        client.cookies.set("gptu_sso", state, domain="127.0.0.1")
        answer = client.get(f"{sso.api}{CALLBACK}", params={"code": "made-up", "state": state})
    refused(answer, 401, "used already or took too long")


def test_a_callback_opened_in_another_browser_is_refused(sso: SSO) -> None:
    with browser() as victim, browser() as started:
        callback = to_callback(started, sso.api, "kim")
        refused(victim.get(callback), 400, "started in another browser")
        assert started.get(callback).status_code == 302  # the browser that began it may go on


def test_a_sign_in_that_took_over_ten_minutes_is_refused(sso: SSO) -> None:
    with browser() as client:
        callback = to_callback(client, sso.api, "leo")
        state = query(callback)["state"]
        sso.sql("UPDATE sso_logins SET created_at = :t WHERE id = :id",
                t="2000-01-01 00:00:00", id=token_id(state))  # fmt: skip
        refused(client.get(callback), 401, "took too long")
    assert not sso.sql("SELECT 1 FROM sso_logins WHERE id = :id", id=token_id(state))


def test_a_callback_used_twice_is_refused(sso: SSO) -> None:
    with browser() as client:
        callback = to_callback(client, sso.api, "nina")
        assert client.get(callback).status_code == 302
        client.cookies.set(
            "gptu_sso", query(callback)["state"], domain="127.0.0.1", path="/v1/auth/sso"
        )
        refused(client.get(callback), 401, "used already")


def test_a_replayed_code_with_a_fresh_state_is_refused_by_the_provider(sso: SSO) -> None:
    with browser() as client:
        callback = to_callback(client, sso.api, "nina")
        assert client.get(callback).status_code == 302
        fresh = client.get(f"{sso.api}/v1/auth/sso")  # a new sign-in: new state, nonce, verifier
        state = query(fresh.headers["location"])["state"]
        again = {**query(callback), "state": state}
        answer = client.get(f"{sso.api}{CALLBACK}?{urlencode(again)}")
    refused(answer, 502, "refused the sign-in (invalid_grant)")


def test_a_person_who_denies_at_the_provider_sees_its_error(sso: SSO) -> None:
    with browser() as client:
        start = f"{sso.api}/v1/auth/sso"
        callback = drive_login(client, start, "ivan", "ivan-pw", stop_at=f"{sso.api}{CALLBACK}",
                               consent=False)  # fmt: skip
        assert query(callback)["error"] == "access_denied"
        refused(client.get(callback), 401, "access_denied")


def test_an_expired_id_token_is_refused_at_the_callback(sso: SSO) -> None:
    with browser() as client:
        answer = sign_in(client, sso.skewed, "alice")
    refused(answer, 502, "Signature has expired")
    subject = f"{sso.skewed_provider.issuer} alice"
    assert not sso.sql("SELECT 1 FROM users WHERE sso_subject = :s", s=subject)


def tokens(op: OIDCProvider, redirect: str, client_id: str, secret: str, nonce: str) -> str:
    """An ID token for alice at `client_id`, straight from the provider (no gptu involved)."""
    verifier, challenge = pkce_pair()
    url = authorize_url(op, client_id=client_id, redirect_uri=redirect, state="s", nonce=nonce,
                        code_challenge=challenge)  # fmt: skip
    with browser() as client:
        code = query(drive_login(client, url, "alice", "alice-pw", stop_at=redirect))["code"]
    answer = httpx.post(op.discovery()["token_endpoint"], auth=(client_id, secret), timeout=10,
                        data={"grant_type": "authorization_code", "code": code,
                              "redirect_uri": redirect, "code_verifier": verifier})  # fmt: skip
    answer.raise_for_status()
    return str(answer.json()["id_token"])


def test_id_tokens_for_another_client_another_issuer_or_sign_in_are_refused(sso: SSO) -> None:
    redirect = f"{sso.api}{CALLBACK}"
    gptu = OidcClient(sso.provider.issuer, CLIENT, SECRET)
    nonce = secrets.token_urlsafe(16)
    own = tokens(sso.provider, redirect, CLIENT, SECRET, nonce)
    assert gptu.verify(own, nonce)["sub"] == "alice"  # the control: a good token passes
    with pytest.raises(IdentityProviderError, match="another sign-in"):
        gptu.verify(own, "another nonce")
    other_app = tokens(sso.provider, redirect, OTHER, OTHER_SECRET, nonce)
    with pytest.raises(IdentityProviderError, match=r"(?i)audience"):
        gptu.verify(other_app, nonce)
    clients = client_of(sso.api)
    with OIDCProvider({"clients": clients, "users": PEOPLE, "keys_file": str(sso.keys_file)}) as b:
        from_b = tokens(b, redirect, CLIENT, SECRET, nonce)  # the same key signs it
    assert jwt.get_unverified_header(from_b)["kid"] == jwt.get_unverified_header(own)["kid"]
    with pytest.raises(IdentityProviderError, match=r"(?i)issuer"):
        gptu.verify(from_b, nonce)


def test_a_disabled_user_is_refused_and_their_session_ends(sso: SSO) -> None:
    with browser() as client:
        assert sign_in(client, sso.api, "erin").status_code == 302
        assert me(client, sso.api)["name"] == "erin"
        with sso.admin() as admin:
            assert admin.patch("/v1/users/erin", json={"disabled": True}).status_code == 200
        assert client.get(f"{sso.api}/v1/me").status_code == 401
    with browser() as client:
        refused(sign_in(client, sso.api, "erin"), 403, "disabled")
    with sso.admin() as admin:
        [erin] = [u for u in admin.get("/v1/users").json() if u["name"] == "erin"]
    assert erin["sso"] and erin["disabled"]


def test_without_create_users_a_stranger_is_refused_and_not_made(sso: SSO) -> None:
    users = sso.sql("SELECT count(*) FROM users")
    with browser() as client:
        answer = sign_in(client, sso.strict, "dave")
    refused(answer, 403, "ask an admin to let you in")
    assert sso.sql("SELECT count(*) FROM users") == users
    assert not sso.sql("SELECT 1 FROM users WHERE sso_subject = :s", s=sso.subject("dave"))
    # someone gptu knows by their subject signs in there as usual (a callback at PUBLIC_URL)
    with sso.admin() as admin:
        assert admin.post("/v1/users", json={"name": "henry"}).status_code == 201
    sso.sql("UPDATE users SET sso_subject = :s WHERE name = 'henry'", s=sso.subject("henry"))
    with browser() as client:
        assert sign_in(client, sso.strict, "henry").status_code == 302
        assert me(client, sso.strict)["name"] == "henry"


def test_a_provider_that_does_not_answer_or_names_another_issuer_is_refused(sso: SSO) -> None:
    with pytest.raises(IdentityProviderError, match="does not answer"):
        OidcClient(f"http://127.0.0.1:{free_port()}", CLIENT, SECRET).metadata()
    # a provider whose discovery names another issuer (here: the real provider's) than its own
    with OIDCProvider({"clients": client_of(sso.api), "issuer": sso.provider.issuer}) as liar:
        lying = OidcClient(liar.base_url, CLIENT, SECRET)
        with pytest.raises(IdentityProviderError, match="check GPTU_OIDC_ISSUER"):
            lying.metadata()


def test_a_sign_in_goes_back_only_to_a_path_on_this_server() -> None:
    for path in ("/", "/admin", "/admin?tab=users#keys"):
        assert same_origin_path(path) == path
    for elsewhere in (None, "", "admin", "//evil.example/x", "/\\evil.example", "https://evil.example",
                      "javascript:alert(1)", "/a b", "/\tx", "/" + "a" * 300):  # fmt: skip
        assert same_origin_path(elsewhere) == "/", elsewhere
