"""Saved conversations in the chat page, in headless Chromium: kept, listed after a reload,
reopened, continued, renamed and deleted; the list folds away on a phone."""

from __future__ import annotations

import uuid

import httpx
from playwright.sync_api import Browser, Page, expect

from tests.conftest import Stack, upload, wait_done
from tests.e2e.conftest import give_password, sign_in

CANTEEN = b"# Canteen\n\nThe Quorrin canteen serves lunch from 11:30 to 14:00 every weekday.\n"
FIRST = "When does the Quorrin canteen serve lunch?"


def ask(page: Page, question: str) -> None:
    """Type a question, send it and wait until the answer is complete."""
    page.fill("#question", question)
    page.keyboard.press("Enter")
    expect(page.locator("#send")).to_be_disabled()
    expect(page.locator("#send")).to_be_enabled(timeout=120_000)


def test_a_conversation_is_kept_reopened_continued_renamed_and_deleted(
    browser: Browser, stack: Stack, api: httpx.Client
) -> None:
    tag = uuid.uuid4().hex[:6]
    name, collection = f"talk-{tag}", f"talk-canteen-{tag}"
    api.post("/v1/users", json={"name": name}).raise_for_status()
    key = api.post(f"/v1/users/{name}/keys").json()["key"]  # to check what the page kept
    password = give_password(api, name)
    api.post("/v1/collections", json={"name": collection, "readers": [f"user:{name}"]})
    [item] = upload(api, collection, [("canteen.md", CANTEEN)])
    assert wait_done(api, [item["id"]])[item["id"]]["status"] == "ready"
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    problems: list[str] = []  # script errors and anything the page's CSP refused
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: problems.append(m.text) if "Refused to" in m.text else None)
    page.goto(stack.api_url + "/")
    sign_in(page, name, password)
    listed = page.locator("#conversation-list li")
    expect(page.locator("#conversations-note")).to_contain_text("kept here")
    expect(page.locator("#collections")).to_contain_text(collection)
    page.click("#select-none")  # only this person's collection, not others open to everyone
    page.get_by_label(collection, exact=False).check()
    ask(page, FIRST)
    answer = page.locator(".turn.assistant .text").last.inner_text()
    assert answer.strip() not in ("", "…")
    expect(listed).to_have_count(1)
    expect(listed.first.locator(".open")).to_have_text(FIRST)
    assert "#conversation=" in page.url

    page.reload()  # the address brings the conversation back
    expect(page.locator(".turn")).to_have_count(2)
    expect(page.locator(".turn.assistant .text")).to_have_text(answer)
    expect(listed.first).to_have_class("current")

    page.goto(stack.api_url + "/")  # a fresh page: the list has it; a click reopens it
    expect(listed).to_have_count(1)
    expect(page.locator(".turn")).to_have_count(0)
    listed.first.locator(".open").click()
    reopened = page.locator(".turn.assistant").first
    expect(reopened.locator(".text")).to_have_text(answer)
    expect(reopened.locator(".sources li").first).to_contain_text("canteen.md")
    expect(reopened.locator(".quote mark")).to_contain_text("11:30 to 14:00")
    expect(reopened.get_by_role("button", name="Good answer")).to_be_visible()
    reopened.locator(".quote a.cite").first.click()  # its sources open as they did
    view = page.locator("#source-view")
    expect(view.locator("mark")).to_contain_text("11:30 to 14:00")
    view.get_by_role("button", name="Close").click()
    expect(view).not_to_be_visible()

    ask(page, "And on which days?")  # continues it: one conversation, two questions
    expect(page.locator(".turn.assistant")).to_have_count(2)
    expect(listed).to_have_count(1)
    with stack.client(key) as mine:
        [kept] = mine.get("/v1/conversations").json()
        assert kept["questions"] == 2 and kept["title"] == FIRST

    listed.first.get_by_role("button", name=f"Rename conversation: {FIRST}").click()
    page.get_by_label("New title").fill("Canteen hours")
    page.get_by_label("New title").press("Enter")
    expect(listed.first.locator(".open")).to_have_text("Canteen hours")

    page.set_viewport_size({"width": 390, "height": 800})
    page.reload()  # on a phone the list is folded away, the chat first
    expect(page.locator(".turn")).to_have_count(4)
    expect(listed.first).to_be_hidden()
    page.locator("#conversations-box summary").click()
    expect(listed.first).to_be_visible()

    page.once("dialog", lambda dialog: dialog.accept())
    listed.first.get_by_role("button", name="Delete conversation: Canteen hours").click()
    expect(listed).to_have_count(0)
    expect(page.locator(".turn")).to_have_count(0)
    assert "#conversation=" not in page.url
    with stack.client(key) as mine:
        assert mine.get("/v1/conversations").json() == []
    assert problems == []
    page.close()
