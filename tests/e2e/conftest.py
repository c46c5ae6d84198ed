"""What the browser tests share: Debian's Chromium, and signing in through a page's dialog."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

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


def sign_in(page: Page, key: str) -> None:
    """Type the key into the sign-in dialog."""
    page.fill("#api-key", "wrong-key")
    page.click("#signin button[type=submit]")
    expect(page.locator("#signin .note")).to_contain_text("not valid")
    page.fill("#api-key", key)
    page.click("#signin button[type=submit]")
    expect(page.locator("#signin")).not_to_be_visible()
