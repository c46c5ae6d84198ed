"""A web site as a source: the pages under a start URL, as clean HTML of their main text.

The crawl is breadth-first over <a href> links (and the site's sitemap), on the start URL's
scheme, host and port and under its folder, obeying robots.txt. Each page's ETag,
Last-Modified and links are kept in scan.state, so an unchanged page costs one 304 and its
links are still followed. A page's version is the sha256 of the document read() returns, so
a change to a site-wide menu does not re-index every page. The parts: webcrawl (the listing),
website (scope, robots.txt, sitemaps, redirects), webpage (main text), webhttp (answers, URLs).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import Field, field_validator

from sources.base import Entry, Kind, Scan, Settings
from sources.webcrawl import Crawl
from sources.webhttp import SiteAuth, origin_of


class WebSettings(Settings):
    """Where the crawl starts and how far it goes."""

    url: str = Field(description="The start page (http or https); pages under its folder are read.")
    max_pages: int = Field(500, ge=1, description="The most pages read in one sync.")
    max_depth: int = Field(5, ge=0, description="The most links followed from the start page.")
    user_agent: str = Field("gptu-sources/1", min_length=1, description="Sent; robots.txt obeyed.")
    path_prefix: str | None = Field(
        None, description="Only paths starting with this are read; default: the start's folder."
    )
    username: str | None = Field(
        None, description="For a site behind a password (HTTP Basic; the secret 'password')."
    )

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("url must be an http:// or https:// address, like https://x.org/docs/")
        return value.strip()

    @field_validator("path_prefix")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError("path_prefix must start with '/', like /docs/")
        return value


class WebConnector:
    """Lists the pages of one web site under a start URL."""

    def __init__(self, settings: WebSettings | Mapping[str, Any], secrets: Mapping[str, str]):
        self.settings = WebSettings.model_validate(settings)
        password = secrets.get("password", "")
        user = self.settings.username
        self.auth = SiteAuth(origin_of(self.settings.url), user, password) if user else None

    def client(self, timeout: float) -> httpx.Client:
        """An HTTP client that sends our user agent (and the password, when there is one) and
        follows no redirect by itself."""
        headers = {"User-Agent": self.settings.user_agent}
        return httpx.Client(
            headers=headers, timeout=timeout, follow_redirects=False, auth=self.auth
        )

    def entries(self, scan: Scan) -> Iterator[Entry]:
        """Every page with text under the start URL's folder (see Crawl)."""
        with self.client(scan.timeout) as client:
            crawl = Crawl(self.settings, scan, client, lambda: self.client(scan.timeout))
            yield from crawl.run()


KIND = Kind(
    name="web",
    summary="A web site: the pages under a start URL, crawled (robots.txt obeyed) and kept current",
    settings=WebSettings,
    secrets=("password",),  # optional: only with the username setting
    make=lambda settings, secrets: WebConnector(settings, secrets),
)
