"""Single sign-on as people do it, in headless Chromium: the sign-in dialog's SSO button, a real
OpenID provider's sign-in and consent pages (tests/oidc: panva's oidc-provider under Node), and
back on the chat page with the collections the provider's groups claim lets the person read.
The stack is this module's own, so that its API knows the provider."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from cli.localstack import ROOT, Stack, stack_env, start_stack
from tests.conftest import upload, wait_done
from tests.oidc.harness import OIDCProvider

LABEL = "Test IdP"
CALLBACK = "/v1/auth/sso/callback"
WAIT = 15_000  # ms: a page, the provider's redirects and the API's code exchange on a busy host
PEOPLE = {  # at the provider; the password is `<id>-pw`, the id becomes `sub`
    "alice": {"password": "alice-pw", "email": "alice@example.com", "email_verified": True,
              "name": "Alice Example", "groups": ["hr", "staff"]},
    "bob": {"password": "bob-pw", "email": "bob@example.com", "email_verified": True,
            "name": "Bob Example", "groups": ["sales"]},
}  # fmt: skip
SHELVES = {  # collection: (the group that reads it, one document)
    "hr-handbook": ("hr", ("leave.md", b"# Leave\n\nHolidays: 31 days a year.\n")),
    "sales-playbook": ("sales", ("quota.md", b"# Quota\n\nNo holidays in Q4.\n")),
}


def provider_packages() -> None:
    """The provider's npm packages, or a failure that names the command installing them."""
    if not (ROOT / "tests/oidc/node_modules/oidc-provider").is_dir() and not os.environ.get(
        "OIDC_PROVIDER_NODE_MODULES"
    ):
        pytest.fail("the SSO tests need tests/oidc's packages: make test installs them, or run "
                    "npm ci --prefix tests/oidc --no-audit --no-fund")  # fmt: skip


@pytest.fixture(scope="module")
def sso_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack whose API signs people in at the provider and makes them on first sign-in."""
    provider_packages()
    folder = tmp_path_factory.mktemp("sso-browser")
    env = stack_env(folder, GPTU_DOCTOR_INTERVAL="0", GPTU_SWEEP_INTERVAL="0.5")
    api = env["GPTU_API_URL"]  # its port is chosen first: the provider's redirect URI names it
    client = {"client_id": "gptu", "client_secret": "gptu-secret",
              "redirect_uris": [f"{api}{CALLBACK}"]}  # fmt: skip
    with ExitStack() as cleanup:
        provider = cleanup.enter_context(OIDCProvider({"clients": [client], "users": PEOPLE}))
        env.update(GPTU_OIDC_ISSUER=provider.issuer, GPTU_OIDC_CLIENT_ID="gptu",
                   GPTU_OIDC_CLIENT_SECRET="gptu-secret", GPTU_OIDC_CREATE_USERS="true",
                   GPTU_OIDC_LABEL=LABEL, GPTU_PUBLIC_URL=api)  # fmt: skip
        stack = start_stack(folder, env)
        cleanup.callback(stack.stop)
        shelve(stack)
        yield stack


def shelve(stack: Stack) -> None:
    """Each collection readable by one group, with one ready document in it."""
    with stack.client() as admin:
        items = []
        for name, (group, document) in SHELVES.items():
            # a collection grants only to groups that exist; the sign-in fills them later
            made = admin.post("/v1/groups", json={"name": group})
            assert made.status_code == 201, made.text
            made = admin.post("/v1/collections", json={"name": name, "readers": [group]})
            assert made.status_code == 201, made.text
            items += upload(admin, name, [document])
        done = wait_done(admin, [item["id"] for item in items])
    assert {doc["status"] for doc in done.values()} == {"ready"}, done


def watched(browser: Browser, problems: list[str]) -> BrowserContext:
    """A fresh browser context (no cookies of anyone's) that records script errors."""
    context = browser.new_context()
    context.set_default_timeout(WAIT)
    context.on("weberror", lambda error: problems.append(str(error.error)))
    return context


def sign_in_at_provider(page: Page, stack: Stack, person: str) -> None:
    """From gptu's sign-in dialog: the SSO button, the provider's sign-in and consent pages,
    and back home signed in."""
    page.goto(stack.api_url + "/")
    expect(page.locator("#signin")).to_be_visible(timeout=WAIT)
    page.get_by_role("link", name=f"Sign in with {LABEL}").click()
    page.wait_for_url(f"{stack.env['GPTU_OIDC_ISSUER']}/**")
    page.get_by_label("Username").fill(person)
    page.get_by_label("Password").fill(f"{person}-pw")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(stack.api_url + "/")
    expect(page.locator("#who")).to_contain_text(f"Signed in as {person}", timeout=WAIT)
    expect(page.locator("#signin")).not_to_be_visible(timeout=WAIT)


def reads_only(page: Page, readable: str, hidden: str) -> None:
    """The chat page's collection list: the one collection the person's groups read."""
    collections = page.locator("#collections")
    expect(collections).to_contain_text(f"{readable} (1)", timeout=WAIT)
    expect(collections).not_to_contain_text(hidden)


def status_of(page: Page, path: str) -> int:
    """What the API answers the page's own fetch of path (with its cookies)."""
    return int(page.evaluate("(path) => fetch(path).then((r) => r.status)", path))


def with_cookie(stack: Stack, session: str) -> httpx.Response:
    """GET /v1/me from outside the browser, with a copy of its session cookie."""
    return httpx.get(f"{stack.api_url}/v1/me", headers={"Cookie": f"gptu_session={session}"})


def test_alice_signs_in_at_the_provider_reads_what_hr_may_and_signs_out(
    browser: Browser, sso_stack: Stack
) -> None:
    problems: list[str] = []
    context = watched(browser, problems)
    page = context.new_page()
    sign_in_at_provider(page, sso_stack, "alice")
    reads_only(page, "hr-handbook", "sales-playbook")
    me = page.evaluate("fetch('/v1/me').then((r) => r.json())")
    assert set(me["groups"]) == {"hr", "staff", "user:alice", "everyone"}, me  # the claim's
    session = page.evaluate("fetch('/v1/auth/session').then((r) => r.json())")
    assert session["method"] == "sso", session
    [cookie] = [c for c in context.cookies() if c["name"] == "gptu_session"]
    assert with_cookie(sso_stack, cookie["value"]).status_code == 200  # the control

    page.click("#sign-out")
    expect(page.locator("#signin")).to_be_visible(timeout=WAIT)
    expect(page.get_by_role("link", name=f"Sign in with {LABEL}")).to_be_visible()
    expect(page.locator("#who")).not_to_contain_text("alice")
    assert status_of(page, "/v1/me") == 401
    # the session ended on the server, not only in this browser: its old cookie opens nothing
    old = with_cookie(sso_stack, cookie["value"])
    assert old.status_code == 401, old.text
    assert problems == []
    context.close()


def test_bob_in_another_browser_reads_only_what_sales_may(
    browser: Browser, sso_stack: Stack
) -> None:
    problems: list[str] = []
    context = watched(browser, problems)
    page = context.new_page()
    sign_in_at_provider(page, sso_stack, "bob")
    reads_only(page, "sales-playbook", "hr-handbook")
    assert status_of(page, "/v1/me") == 200
    assert problems == []
    context.close()
