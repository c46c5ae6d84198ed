"""Signing in as people do, in headless Chromium: a name and password into a session cookie the
page cannot read, signing out of every tab at once, a one-time welcome link, and no key or
session kept in the browser's storage."""

from __future__ import annotations

import json
import uuid

import httpx
from playwright.sync_api import Browser, BrowserContext, Route, expect

from tests.conftest import Stack
from tests.e2e.conftest import give_password, sign_in

# Every value the page keeps in localStorage and sessionStorage, and what its script sees of
# the cookies.
KEPT = """() => ({
  stored: [localStorage, sessionStorage]
    .flatMap((store) => Object.keys(store).map((key) => [key, store.getItem(key)])),
  cookie: document.cookie,
})"""


def person(api: httpx.Client, prefix: str) -> tuple[str, str]:
    """A new user with a password, made through the admin API."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    api.post("/v1/users", json={"name": name}).raise_for_status()
    return name, give_password(api, name)


def session_status(context: BrowserContext, stack: Stack) -> int:
    """What the API says of the context's session cookie: 200 signed in, 401 not."""
    return context.request.get(f"{stack.api_url}/v1/auth/session").status


def test_a_person_signs_in_with_a_password_and_signing_out_ends_every_tab(
    browser: Browser, stack: Stack, api: httpx.Client
) -> None:
    name, password = person(api, "ada")
    writable = f"ada-files-{uuid.uuid4().hex[:6]}"
    grant = [f"user:{name}"]
    body = {"name": writable, "readers": grant, "writers": grant}
    api.post("/v1/collections", json=body).raise_for_status()
    context = browser.new_context()
    problems: list[str] = []  # script errors and anything the pages' CSP refused
    context.on("weberror", lambda error: problems.append(str(error.error)))
    chat = context.new_page()
    chat.on("console", lambda m: problems.append(m.text) if "Refused to" in m.text else None)
    chat.goto(stack.api_url + "/")
    expect(chat.locator("#signin")).to_be_visible()
    expect(chat.locator("#signin-sso")).to_be_hidden()  # no single sign-on configured
    for _ in range(2):  # Escape does not leave the page signed out behind no dialog
        chat.keyboard.press("Escape")
        expect(chat.locator("#signin")).to_be_visible()
    chat.fill("#signin-name", name)
    chat.fill("#signin-password", "not the password")
    chat.click("#signin button[type=submit]")
    expect(chat.locator("#signin .note")).to_have_text("wrong name or password")
    expect(chat.locator("#signin")).to_be_visible()
    sign_in(chat, name, password)
    expect(chat.locator("#collections")).not_to_contain_text("You may not read")

    files = context.new_page()  # a second tab: the same session, no sign-in
    files.goto(stack.api_url + "/upload")
    expect(files.locator("#who")).to_contain_text(f"Signed in as {name}")
    expect(files.locator("#signin")).to_have_count(0)
    files.fill("#new-name", f"{writable}-2")  # a change: it carries the page's CSRF token
    files.click("#create")
    expect(files.locator("#message")).to_have_text(f"Collection {writable}-2 created.")
    expect(files.locator("#collection")).to_have_value(f"{writable}-2")
    files.locator("#collection").select_option(writable)  # the tab now polls its documents
    files.evaluate("window.unreloaded = true")

    chat.click("#sign-out")
    expect(chat.locator("#signin")).to_be_visible()
    assert session_status(context, stack) == 401
    # the other tab learns it on its next request (its poll), without a reload
    expect(files.locator("#signin")).to_be_visible(timeout=10_000)
    expect(files.locator("#signin-hint")).to_contain_text("session has ended")
    expect(files.locator("#signin-name")).to_have_value(name)
    files.fill("#signin-password", password)
    files.click("#signin button[type=submit]")
    expect(files.locator("#signin")).not_to_be_visible()
    expect(files.locator("#collection")).to_have_value(writable)
    assert files.evaluate("window.unreloaded") is True  # the same person carries on, no reload
    assert session_status(context, stack) == 200
    chat.reload()  # the new session is the browser's, so every tab has it again
    expect(chat.locator("#who")).to_contain_text(f"Signed in as {name}")
    assert problems == []
    context.close()


def test_a_welcome_link_chooses_a_password_signs_in_and_works_once(
    browser: Browser, stack: Stack, api: httpx.Client
) -> None:
    name = f"newcomer-{uuid.uuid4().hex[:6]}"
    api.post("/v1/users", json={"name": name}).raise_for_status()
    made = api.post(f"/v1/users/{name}/link")
    assert made.status_code == 201, made.text
    url = made.json()["url"]
    assert url.startswith(f"{stack.api_url}/welcome#")
    page = browser.new_page()
    page.goto(url)
    expect(page.get_by_role("heading", name="Choose your password")).to_be_visible()
    page.get_by_label("Password", exact=True).fill("too short")
    page.get_by_label("The same password again").fill("too short")
    page.get_by_role("button", name="Set password and sign in").click()
    expect(page.locator("#message")).to_have_text("Use at least 10 characters.")
    page.get_by_label("Password", exact=True).fill("a walk by the river")
    page.get_by_label("The same password again").fill("a walk by the rivers")
    page.get_by_role("button", name="Set password and sign in").click()
    expect(page.locator("#message")).to_have_text("The two passwords are not the same.")
    page.get_by_label("The same password again").fill("a walk by the river")
    page.get_by_role("button", name="Set password and sign in").click()
    page.wait_for_url(stack.api_url + "/")
    expect(page.locator("#who")).to_contain_text(f"Signed in as {name}")
    expect(page.locator("#signin")).to_have_count(0)
    page.go_back()  # the welcome page left the history: no way back to the link
    assert "/welcome" not in page.url
    page.close()

    again = browser.new_page()  # someone with the same link, later
    again.goto(url)
    again.get_by_label("Password", exact=True).fill("someone else's words")
    again.get_by_label("The same password again").fill("someone else's words")
    again.get_by_role("button", name="Set password and sign in").click()
    expect(again.locator("#message")).to_contain_text("expired or was used already")
    assert again.url == url
    assert session_status(again.context, stack) == 401
    again.close()
    signed = httpx.post(f"{stack.api_url}/v1/auth/password",
                        json={"name": name, "password": "a walk by the river"})  # fmt: skip
    assert signed.status_code == 200, signed.text


def test_the_welcome_page_without_its_token_says_what_to_do(browser: Browser, stack: Stack) -> None:
    page = browser.new_page()
    page.goto(stack.api_url + "/welcome")
    expect(page.locator("#message")).to_contain_text("needs the whole link")
    expect(page.get_by_role("button", name="Set password and sign in")).to_be_disabled()
    page.close()


def test_the_page_keeps_no_key_and_cannot_read_its_session(
    browser: Browser, stack: Stack, api: httpx.Client
) -> None:
    name, password = person(api, "quiet")
    context = browser.new_context()
    page = context.new_page()
    page.goto(stack.api_url + "/")
    old_key = "gptu_an-old-key-from-before"  # what pages before issue 23 kept
    page.evaluate("(key) => localStorage.setItem('gptu.key', key)", old_key)
    page.reload()
    sign_in(page, name, password)
    page.goto(stack.api_url + "/upload")
    expect(page.locator("#who")).to_contain_text(name)
    page.goto(stack.api_url + "/admin")
    expect(page.locator("#who")).to_contain_text(name)

    [cookie] = [c for c in context.cookies() if c["name"] == "gptu_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/"
    csrf = context.request.get(f"{stack.api_url}/v1/auth/session").json()["csrf"]
    for path in ("/", "/upload", "/admin"):
        page.goto(stack.api_url + path)
        expect(page.locator("#who")).to_contain_text(name)
        kept = page.evaluate(KEPT)
        assert "gptu_session" not in kept["cookie"] and cookie["value"] not in kept["cookie"]
        for key, value in kept["stored"]:
            assert key != "gptu.key", kept
            for secret in (cookie["value"], csrf, password, "gptu_"):
                assert secret not in value, (path, key, value)
    context.close()


def test_the_sign_in_dialog_offers_single_sign_on_when_the_server_has_it(
    browser: Browser, stack: Stack
) -> None:
    page = browser.new_page()

    def with_sso(route: Route) -> None:  # what GET /v1/auth/providers answers with OIDC set up
        body = {"password": True, "sso_label": "Example ID", "sso_url": "/v1/auth/sso"}
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page.route("**/v1/auth/providers", with_sso)
    page.goto(stack.api_url + "/")
    sso = page.get_by_role("link", name="Sign in with Example ID")
    expect(sso).to_be_visible()
    assert sso.get_attribute("href") == "/v1/auth/sso"
    expect(page.locator("#signin-name")).to_be_visible()  # the password form stays
    page.close()


def test_a_change_from_the_page_needs_its_csrf_token(
    browser: Browser, stack: Stack, api: httpx.Client
) -> None:
    name, password = person(api, "careful")
    page = browser.new_page()
    page.goto(stack.api_url + "/")
    sign_in(page, name, password)
    answers = page.evaluate("""async (name) => {
      const post = (headers) => fetch("/v1/collections", {method: "POST",
        headers: {"content-type": "application/json", ...headers},
        body: JSON.stringify({name})}).then(async (r) => [r.status, await r.json()]);
      const session = await (await fetch("/v1/auth/session")).json();
      return [await post({}), await post({"x-csrf-token": session.csrf})];
    }""", f"careful-{uuid.uuid4().hex[:6]}")  # fmt: skip
    [without, with_token] = answers
    assert without[0] == 403 and without[1]["error"]["code"] == "forbidden", without
    assert with_token[0] == 201, with_token
    page.close()
