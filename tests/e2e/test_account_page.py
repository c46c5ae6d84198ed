"""The "My account" page in a headless Chromium: who I am, my groups, a key for my programs
shown once and revoked, and ending a session of another browser or of this one."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import httpx
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.conftest import Stack
from tests.e2e.conftest import give_password, sign_in


def open_account(
    context: BrowserContext, stack: Stack, name: str, password: str
) -> tuple[Page, list[str]]:
    """The account page in context, signed in as name, every confirm() accepted; and the list
    that collects its script errors and whatever its CSP refuses."""
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: problems.append(m.text) if "Refused to" in m.text else None)
    page.goto(stack.api_url + "/account")
    sign_in(page, name, password)
    return page, problems


def key_works(stack: Stack, key: str) -> httpx.Response:
    """GET /v1/me as a program does, with the key."""
    return httpx.get(f"{stack.api_url}/v1/me", headers={"Authorization": f"Bearer {key}"})


def shows(page: Page, text: str) -> bool:
    """Whether the page shows text anywhere: in its words or in any box's value."""
    return bool(page.evaluate(
        """(text) => document.body.innerText.includes(text)
             || [...document.querySelectorAll("input")].some((box) => box.value.includes(text))""",
        text,
    ))  # fmt: skip


def test_a_person_sees_themselves_makes_a_key_shown_once_and_revokes_it(
    browser: Browser, stack: Stack, api: httpx.Client
) -> None:
    tag = uuid.uuid4().hex[:6]
    name, groups = f"kim-{tag}", [f"finance-{tag}", f"audit-{tag}"]
    for group in groups:
        api.post("/v1/groups", json={"name": group}).raise_for_status()
    api.post("/v1/users", json={"name": name, "groups": groups}).raise_for_status()
    password = give_password(api, name)
    context = browser.new_context()
    page, problems = open_account(context, stack, name, password)
    expect(page.locator("#my-name")).to_have_text(name)
    expect(page.locator("#my-role")).to_have_text("Member")
    expect(page.locator("#my-groups")).to_have_text(", ".join(sorted(groups)))  # no user:NAME
    expect(page.locator("#no-keys")).to_be_visible()
    for link in ("Chat", "Documents", "Admin"):  # the way back to the other pages
        expect(page.locator("header nav").get_by_role("link", name=link)).to_be_visible()

    page.get_by_label("Expires after").fill("30")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#new-key")).to_be_visible()
    expect(page.locator("#new-key")).to_contain_text("will not be shown again")
    key = page.locator("#new-key-value").input_value()
    assert key.startswith("gptu_")
    expect(page.locator("#new-key-value")).not_to_be_editable()
    answer = key_works(stack, key)
    assert answer.status_code == 200 and answer.json()["name"] == name, answer.text
    [made] = api.get(f"/v1/users/{name}/keys").json()  # what the admin API says of it
    made_at, ends = (datetime.fromisoformat(made[k]) for k in ("created_at", "expires_at"))
    assert abs(ends - made_at - timedelta(days=30)) < timedelta(minutes=1), made
    rows = page.locator("#keys-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text(made["prefix"])
    expect(rows).to_contain_text("active")

    page.reload()  # shown once: gone for good, and kept nowhere in the browser
    expect(page.locator("#signin")).to_have_count(0)
    expect(rows).to_have_count(1)
    expect(page.locator("#new-key")).to_be_hidden()
    assert not shows(page, key)
    stored = page.evaluate("() => JSON.stringify([{...localStorage}, {...sessionStorage}])")
    assert "gptu_" not in stored

    rows.get_by_role("button", name=f"Revoke key {made['prefix']}").click()
    expect(rows).to_contain_text("revoked")
    expect(rows).to_have_class("gone")
    expect(rows.get_by_role("button")).to_have_count(0)
    assert key_works(stack, key).status_code == 401
    assert problems == []
    context.close()


def test_a_person_ends_the_session_of_another_browser_then_their_own(
    browser: Browser, stack: Stack, api: httpx.Client
) -> None:
    name = f"lee-{uuid.uuid4().hex[:6]}"
    api.post("/v1/users", json={"name": name}).raise_for_status()
    password = give_password(api, name)
    laptop, phone = browser.new_context(), browser.new_context()
    here, here_problems = open_account(laptop, stack, name, password)
    expect(here.locator("#sessions-table tbody tr")).to_have_count(1)
    there, there_problems = open_account(phone, stack, name, password)
    sessions = there.locator("#sessions-table tbody tr")
    expect(sessions).to_have_count(2)
    expect(sessions.first).to_have_class("current")  # newest first: the phone's own

    here.reload()
    sessions = here.locator("#sessions-table tbody tr")
    expect(sessions).to_have_count(2)
    expect(sessions.filter(has_text="this browser")).to_have_count(1)
    other = here.locator("#sessions-table tbody tr:not(.current)")
    expect(other).to_contain_text("Password")
    expect(other).to_contain_text("Chrome")  # the browser, in words
    other.get_by_role("button", name="End").click()
    expect(here.locator("#message")).to_contain_text("has ended")
    expect(sessions).to_have_count(1)
    expect(sessions).to_have_class("current")
    assert phone.request.get(f"{stack.api_url}/v1/auth/session").status == 401

    there.get_by_role("button", name="Create key").click()  # its next request: sign in again
    expect(there.locator("#signin")).to_be_visible()
    expect(there.locator("#signin-hint")).to_contain_text("session has ended")
    assert api.get(f"/v1/users/{name}/keys").json() == []

    here.get_by_role("button", name="End this browser's session (sign out)").click()
    expect(here.locator("#signin")).to_be_visible()  # the page starts over, signed out
    assert laptop.request.get(f"{stack.api_url}/v1/auth/session").status == 401
    assert here_problems == [] and there_problems == []
    laptop.close()
    phone.close()
