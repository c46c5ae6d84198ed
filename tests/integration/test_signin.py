"""Signing pages in with a password, on a stack of its own (a low wrong-sign-in limit, whose
blocks must not reach other tests) with a second API replica on the same database."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import create_engine, text

from cli.localstack import GPTU, Process, Stack, free_port, stack_env, start_stack, wait_until
from core.settings import Settings


@dataclass
class Replicas:
    """The stack, and the address of a second API on the same database."""

    stack: Stack
    second: str

    def admin(self) -> httpx.Client:
        """The admin, with the stack's key."""
        return self.stack.client()

    def browser(self, url: str | None = None) -> httpx.Client:
        """A client with no key, as a page is: cookies only, and our own Origin."""
        base = url or self.stack.api_url
        return httpx.Client(base_url=base, timeout=60, headers={"Origin": base})

    def sql(self, statement: str, **params: object) -> None:
        """Run a statement on the stack's database."""
        url = Settings(data_dir=self.stack.data_dir).sqlalchemy_url
        engine = create_engine(url)
        try:
            with engine.begin() as conn:
                conn.execute(text(statement), params)
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    folder = tmp_path_factory.mktemp("signin")
    env = stack_env(folder, GPTU_AUTH_FAILURES="3", GPTU_AUTH_WINDOW="60",
                    GPTU_MAX_ANSWER_TOKENS="16", GPTU_DOCTOR_INTERVAL="0")  # fmt: skip
    stack = start_stack(folder, env)
    second_env = {**env, "GPTU_PORT": str(free_port())}
    second = f"http://127.0.0.1:{second_env['GPTU_PORT']}"
    api2 = Process([*GPTU, "serve"], second_env, folder / "api2.log")
    api2.start()
    try:
        wait_until(lambda: httpx.get(f"{second}/readyz").status_code == 200, 120, "API 2 ready")
        yield Replicas(stack, second)
    finally:
        api2.stop()
        stack.stop()


@pytest.fixture(autouse=True)
def forgotten_failures(replicas: Replicas) -> None:
    """Each test starts with no failed sign-in counted (the limit here is 3, and every test's
    requests come from 127.0.0.1)."""
    failures = redis.Redis.from_url(replicas.stack.env["GPTU_REDIS_URL"])
    for key in failures.scan_iter("gptu:wrong-keys:*"):
        failures.delete(key)


def person(replicas: Replicas, name: str, password: str = "correct horse battery") -> str:
    """A user with a password (set by the admin); the password."""
    with replicas.admin() as admin:
        admin.post("/v1/users", json={"name": name}).raise_for_status()
        answer = admin.put(f"/v1/users/{name}/password", json={"password": password})
        assert answer.status_code == 204, answer.text
    return password


def signed_in(client: httpx.Client, name: str, password: str) -> str:
    """Sign the client in; the session's CSRF token."""
    answer = client.post("/v1/auth/password", json={"name": name, "password": password})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["csrf"])


def test_a_password_signs_a_page_in_on_any_replica_and_sign_out_ends_it_everywhere(
    replicas: Replicas, tmp_path: Path
) -> None:
    password = person(replicas, "dana")
    with replicas.browser() as page:
        answer = page.post("/v1/auth/password", json={"name": "dana", "password": password})
        assert answer.status_code == 200, answer.text
        cookie = answer.headers["set-cookie"]
        assert "gptu_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
        assert answer.json()["name"] == "dana" and "user:dana" in answer.json()["groups"]
        assert page.get("/v1/me").json()["name"] == "dana"
        with replicas.browser(replicas.second) as other_tab:  # another tab, on replica 2
            other_tab.cookies.update(page.cookies)
            assert other_tab.get("/v1/me").json()["name"] == "dana"
            csrf = answer.json()["csrf"]
            assert other_tab.get("/v1/auth/session").json()["csrf"] == csrf
            ended = page.post("/v1/auth/signout", headers={"X-CSRF-Token": csrf})
            assert ended.status_code == 204
            refused = other_tab.get("/v1/me")
            assert refused.status_code == 401
            assert refused.json()["error"]["code"] == "unauthorized"


def test_a_change_made_with_the_cookie_needs_our_origin_and_the_csrf_token(
    replicas: Replicas,
) -> None:
    password = person(replicas, "femi")
    with replicas.browser() as page:
        csrf = signed_in(page, "femi", password)
        body = {"messages": [{"role": "user", "content": "hello"}], "stream": False}
        missing = page.post("/v1/chat", json=body)
        assert missing.status_code == 403
        evil = {"X-CSRF-Token": csrf, "Origin": "https://evil.example"}
        foreign = page.post("/v1/chat", json=body, headers=evil)
        assert foreign.status_code == 403
        assert "gptu's own pages" in foreign.json()["error"]["message"]
        ours = page.post("/v1/chat", json=body, headers={"X-CSRF-Token": csrf})
        assert ours.status_code == 200, ours.text
        assert page.get("/v1/collections").status_code == 200  # reading needs no token
    with replicas.browser() as elsewhere:  # another site signing a visitor in: refused
        forged = elsewhere.post("/v1/auth/password", json={"name": "femi", "password": password},
                                headers={"Origin": "https://evil.example"})  # fmt: skip
        assert forged.status_code == 403 and "gptu_session" not in forged.headers.get(
            "set-cookie", ""
        )


def test_a_session_ends_when_idle_too_long_and_when_its_user_is_disabled(
    replicas: Replicas,
) -> None:
    password = person(replicas, "gita")
    with replicas.browser() as page:
        signed_in(page, "gita", password)
        assert page.get("/v1/me").status_code == 200
        # nine hours pass without a request (GPTU_SESSION_IDLE_MINUTES: 480)
        replicas.sql("UPDATE web_sessions SET seen_at = :then WHERE user_id = "
                     "(SELECT id FROM users WHERE name = 'gita')",
                     then="2000-01-01 00:00:00")  # fmt: skip
        ended = page.get("/v1/me")
        assert ended.status_code == 401
        assert "session has ended" in ended.json()["error"]["message"]
        signed_in(page, "gita", password)
        assert page.get("/v1/me").status_code == 200
        with replicas.admin() as admin:
            key = admin.post("/v1/users/gita/keys").json()["key"]
            with replicas.stack.client(key) as program:
                assert program.get("/v1/me").status_code == 200
                changed = admin.patch("/v1/users/gita", json={"disabled": True})
                assert changed.status_code == 200 and changed.json()["disabled"] is True
                assert changed.json()["password"] is True
                assert program.get("/v1/me").status_code == 401  # the key stops at once
            assert page.get("/v1/me").status_code == 401  # and so does the session
            again = page.post("/v1/auth/password", json={"name": "gita", "password": password})
            assert again.status_code == 401
            admin.patch("/v1/users/gita", json={"disabled": False}).raise_for_status()
        assert signed_in(page, "gita", password)


def test_a_one_time_link_sets_a_password_and_signs_in_once(replicas: Replicas) -> None:
    with replicas.admin() as admin:
        admin.post("/v1/users", json={"name": "hana"}).raise_for_status()
        made = admin.post("/v1/users/hana/link")
        assert made.status_code == 201, made.text
    url = made.json()["url"]
    assert url.startswith(f"{replicas.stack.api_url}/welcome#")
    token = url.split("#", 1)[1]
    with replicas.browser() as page:
        short = page.post("/v1/auth/link", json={"token": token, "password": "short"})
        assert short.status_code == 400
        used = page.post("/v1/auth/link", json={"token": token, "password": "a long passphrase"})
        assert used.status_code == 200, used.text
        assert page.get("/v1/me").json()["name"] == "hana"
        twice = page.post("/v1/auth/link", json={"token": token, "password": "another passphrase"})
        assert twice.status_code == 401
    with replicas.browser() as fresh:
        assert signed_in(fresh, "hana", "a long passphrase")


def test_my_account_lists_and_ends_my_sessions_and_makes_keys_for_my_programs(
    replicas: Replicas,
) -> None:
    password = person(replicas, "ines")
    person(replicas, "jonas")
    with replicas.browser() as laptop, replicas.browser() as phone:
        csrf = signed_in(laptop, "ines", password)
        signed_in(phone, "ines", password)
        mine = laptop.get("/v1/me/sessions").json()
        assert len(mine) == 2 and sum(row["current"] for row in mine) == 1
        other = next(row["id"] for row in mine if not row["current"])
        ended = laptop.delete(f"/v1/me/sessions/{other}", headers={"X-CSRF-Token": csrf})
        assert ended.status_code == 200
        assert phone.get("/v1/me").status_code == 401 and laptop.get("/v1/me").status_code == 200

        made = laptop.post("/v1/me/keys", json={"expires_in_days": 30},
                           headers={"X-CSRF-Token": csrf})  # fmt: skip
        assert made.status_code == 201, made.text
        assert made.json()["expires_at"] is not None
        with replicas.stack.client(made.json()["key"]) as program:
            assert program.get("/v1/me").json()["name"] == "ines"
            too_long = laptop.post("/v1/me/keys", json={"expires_in_days": 400},
                                   headers={"X-CSRF-Token": csrf})  # fmt: skip
            assert too_long.status_code == 422
            revoked = laptop.delete(f"/v1/me/keys/{made.json()['id']}",
                                    headers={"X-CSRF-Token": csrf})  # fmt: skip
            assert revoked.status_code == 200
            assert program.get("/v1/me").status_code == 401
    with replicas.admin() as admin:
        theirs = admin.post("/v1/users/jonas/keys").json()["id"]
    with replicas.browser() as laptop:
        csrf = signed_in(laptop, "ines", password)
        foreign = laptop.delete(f"/v1/me/keys/{theirs}", headers={"X-CSRF-Token": csrf})
        assert foreign.status_code == 404  # another person's key is not mine to revoke
        assert [k["id"] for k in laptop.get("/v1/me/keys").json()] == [made.json()["id"]]


def test_an_admin_links_a_person_to_their_identity_provider_subject(replicas: Replicas) -> None:
    person(replicas, "kofi")
    person(replicas, "lena")
    subject = "https://idp.example.org 00u1kofi"
    with replicas.admin() as admin:
        linked = admin.patch("/v1/users/kofi", json={"sso_subject": subject})
        assert linked.status_code == 200, linked.text
        assert linked.json()["sso"] is True
        taken = admin.patch("/v1/users/lena", json={"sso_subject": subject})
        assert taken.status_code == 409
        assert "kofi" in taken.json()["error"]["message"]
        malformed = admin.patch("/v1/users/lena", json={"sso_subject": "00u1lena"})
        assert malformed.status_code == 400
        unlinked = admin.patch("/v1/users/kofi", json={"sso_subject": None})
        assert unlinked.json()["sso"] is False


def test_an_unknown_name_and_a_wrong_password_get_the_same_answer_then_429(
    replicas: Replicas,
) -> None:
    """The count is shared: the failures on replica 2 block the address on replica 1 too."""
    password = person(replicas, "erik")
    with replicas.browser(replicas.second) as page:
        unknown = page.post("/v1/auth/password", json={"name": "nobody", "password": "x" * 12})
        wrong = page.post("/v1/auth/password", json={"name": "erik", "password": "x" * 12})
        assert unknown.status_code == wrong.status_code == 401
        assert unknown.json() == wrong.json()
        page.post("/v1/auth/password", json={"name": "erik", "password": "y" * 12})
        blocked = page.post("/v1/auth/password", json={"name": "erik", "password": "z" * 12})
        assert blocked.status_code == 429, blocked.text
        assert "too many failed sign-ins" in blocked.json()["error"]["message"]
        assert int(blocked.headers["retry-after"]) >= 1
    with replicas.browser() as elsewhere:  # replica 1 counts what replica 2 saw
        right = elsewhere.post("/v1/auth/password", json={"name": "erik", "password": password})
        assert right.status_code == 429
