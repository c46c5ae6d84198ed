"""The admin page's Sources section in a headless Chromium, against the real API, worker and
beat: a folder source added through the form, synced, synced again, failing, paused, removed."""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

import httpx
from playwright.sync_api import Browser, expect

from tests.conftest import Stack
from tests.e2e.conftest import give_password
from tests.e2e.test_admin_page import open_admin, shows

SYNC_MS = 60_000  # beat checks every second; a sync of one file takes well under this


def test_admin_adds_a_folder_source_sees_its_syncs_and_errors_pauses_and_removes_it(
    browser: Browser, stack: Stack, api: httpx.Client, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    keeper, handbook, name = f"keeper-{tag}", f"shelf-{tag}", f"share-{tag}"
    api.post("/v1/users", json={"name": keeper, "admin": True}).raise_for_status()
    api.post("/v1/collections", json={"name": handbook}).raise_for_status()
    folder = tmp_path / "share"
    folder.mkdir()
    (folder / "travel.md").write_text(f"# Travel\n\nThe travel code is {tag.upper()}-GO.\n")
    page = open_admin(browser, stack, keeper, give_password(api, keeper))
    refused: list[str] = []  # the page keeps to the CSP: no inline script or style
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)

    form = page.locator("#add-source")
    form.get_by_label("Kind").select_option("folder")
    summary = page.locator("#source-kind-summary")  # the kind's summary, as the API words it
    expect(summary).to_contain_text(re.compile("folder on the server", re.I))
    path_box = form.get_by_label(re.compile(r"^Path"))
    expect(path_box).to_have_attribute("required", "")
    expect(form.get_by_label(re.compile(r"^Max Files"))).to_have_attribute("type", "number")
    expect(page.locator("#source-secrets")).to_be_hidden()  # a folder takes no secret
    form.get_by_label("Source name").fill(name)
    form.get_by_label("Into collection").select_option(handbook)
    path_box.fill("relative/folder")  # the API's refusal, in its words, next to the form
    form.get_by_role("button", name="Add source").click()
    expect(page.locator("#source-error")).to_contain_text("absolute path")
    assert name not in {s["name"] for s in api.get("/v1/sources").json()}

    path_box.fill(str(folder))
    form.get_by_role("button", name="Add source").click()
    row = page.locator(f'#sources-table tr[data-name="{name}"]')
    expect(row).to_contain_text(f"folder → {handbook}")
    expect(page.locator("#source-error")).to_be_empty()
    secret = f"hunter2-{tag}"  # refused (the name is taken): the password box is emptied anyway
    form.get_by_label("Kind").select_option("webdav")
    form.get_by_label("Source name").fill(name)
    form.get_by_label(re.compile(r"^Url")).fill("https://dav.example.org/team/")
    form.get_by_label("password").fill(secret)
    form.get_by_role("button", name="Add source").click()
    expect(page.locator("#source-error")).to_contain_text("exists already")
    expect(form.get_by_label("password")).to_have_value("")
    assert not shows(page, secret)
    cells = row.locator("td")
    expect(cells.nth(2)).to_contain_text(re.compile(r"\bnew 1\b"), timeout=SYNC_MS)  # polled
    expect(cells.nth(1)).not_to_have_text("never")
    expect(row.locator(".source-error")).to_have_count(0)
    first_sync = cells.nth(1).inner_text()

    row.get_by_role("button", name=f"Sync source {name} now").click()  # nothing changed
    expect(cells.nth(2)).to_contain_text(re.compile(r"\bnew 0\b.*\bunchanged 1\b"), timeout=SYNC_MS)
    expect(cells.nth(1)).not_to_have_text(first_sync)
    shown = next(s for s in api.get("/v1/sources").json() if s["name"] == name)
    assert shown["counts"]["unchanged"] == 1 and shown["documents"] == 1

    shutil.rmtree(folder)  # the source fails: its row says why, in words
    row.get_by_role("button", name=f"Sync source {name} now").click()
    failure = row.locator(".source-error")
    expect(failure).to_contain_text("does not exist", timeout=SYNC_MS)
    expect(failure).to_have_css("color", "rgb(180, 35, 24)")  # marked in red (--bad)

    row.get_by_role("button", name=f"Pause source {name}").click()
    expect(cells.nth(3)).to_contain_text("paused")
    expect(row.get_by_role("button", name=f"Resume source {name}")).to_be_visible()
    shown = next(s for s in api.get("/v1/sources").json() if s["name"] == name)
    assert shown["enabled"] is False and shown["next_sync"] is None

    row.get_by_role("button", name=f"Remove source {name}").click()  # open_admin says yes
    expect(row).to_have_count(0)
    expect(page.locator("#message")).to_contain_text(f"Source {name} removed")
    assert name not in {s["name"] for s in api.get("/v1/sources").json()}
    assert refused == []
    page.close()
