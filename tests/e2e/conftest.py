"""What the browser tests share: Debian's Chromium, passwords set through the admin API, and
signing in through a page's dialog."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import Stack

CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium; never a downloaded browser."""
    executable = shutil.which("chromium")
    if executable is None:
        raise FileNotFoundError(
            "chromium not found: apt-get install --no-install-recommends chromium"
        )
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


def give_password(api: httpx.Client, name: str) -> str:
    """Set a new password for the user through the admin API (their sessions end); return it."""
    password = f"pw {secrets.token_urlsafe(12)}"
    api.put(f"/v1/users/{name}/password", json={"password": password}).raise_for_status()
    return password


@pytest.fixture(scope="session")
def admin_password(stack: Stack) -> str:
    """A password of the stack's admin (the user `admin`), set once for the whole run."""
    with stack.client() as api:
        return give_password(api, "admin")


def sign_in(page: Page, name: str, password: str) -> None:
    """Type the name and password into the sign-in dialog."""
    expect(page.locator("#signin")).to_be_visible()
    page.fill("#signin-name", name)
    page.fill("#signin-password", password)
    page.click("#signin button[type=submit]")
    expect(page.locator("#signin")).not_to_be_visible()
    expect(page.locator("#who")).to_contain_text(f"Signed in as {name}")
