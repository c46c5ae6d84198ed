"""One listing of a web site: its pages breadth-first, as entries, with their records kept."""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import httpx
from bs4 import BeautifulSoup

from sources.base import Entry, ItemError, Scan, SourceError, too_big
from sources.webhttp import PageFailed, PageGone, Response, status_error
from sources.webpage import html_content, links_of, title_of
from sources.website import Site

if TYPE_CHECKING:
    from sources.web import WebSettings


class Crawl:
    """One listing of a site: robots.txt, the sitemap, then the pages breadth-first."""

    def __init__(
        self,
        settings: WebSettings,
        scan: Scan,
        client: httpx.Client,
        open_client: Callable[[], httpx.Client],
    ) -> None:
        self.settings = settings
        self.scan = scan
        self.client = client  # open while the listing runs
        self.open_client = open_client  # for a read() after the listing closed it
        self.site = Site(settings, scan, self.validators)
        old = scan.state.get("pages")
        self.old: dict[str, dict[str, Any]] = old if isinstance(old, dict) else {}
        self.new: dict[str, dict[str, Any]] = {}
        self.queue: deque[tuple[str, int]] = deque()
        self.seen: set[str] = set()  # queued or answered: never requested twice
        self.gone: dict[str, str] = {}  # URL → why (4xx, redirect loop)
        self.failed: list[str] = []  # why, for each page that could not be read now
        self.disallowed = 0

    def run(self) -> Iterator[Entry]:
        """Every page with text under the prefix, as entries; state and notes at the end."""
        site = self.site
        site.read_robots(self.client)
        if not site.allowed(site.start):
            agent = self.settings.user_agent
            raise SourceError(f"{site.origin}/robots.txt does not let {agent} read {site.start}")
        self.seen.add(site.start)
        first = self.visit_start()
        self.enqueue(site.sitemap_urls(self.client), 0)
        listed = 0 if first is None else 1
        if first is not None:
            yield first
        while self.queue:
            if listed >= self.settings.max_pages:
                self.scan.complete = False
                self.scan.notes.append(
                    f"stopped at max_pages={listed}: the pages beyond it were not read this time"
                    " and the copies gptu holds of them are kept"
                )
                break
            entry = self.visit_later(*self.queue.popleft())
            if entry is not None:
                listed += 1
                yield entry
        self.finish()

    def visit_start(self) -> Entry | None:
        """The start page's entry; SourceError when it cannot be read."""
        try:
            return self.visit(self.site.start, 0)
        except PageGone as exc:
            raise SourceError(self.start_refused(exc)) from None
        except PageFailed as exc:
            raise SourceError(str(exc)) from None

    def start_refused(self, exc: PageGone) -> str:
        """Why the start page cannot be read, and what to check."""
        user, start = self.settings.username, self.site.start
        if exc.status == 401 and user:
            return f"{start} refused the password for user {user}: check it"
        if exc.status == 401:
            return f"{start} asks for a password: set username and the password secret"
        return f"cannot read the start page: {exc}; check the url"

    def visit_later(self, url: str, depth: int) -> Entry | None:
        """A linked page's entry; None when it is gone (noted) or failed (listing incomplete)."""
        try:
            return self.visit(url, depth)
        except PageGone as exc:
            self.gone[url] = str(exc)
        except PageFailed as exc:
            self.failed.append(str(exc))
            self.scan.complete = False
        return None

    def visit(self, url: str, depth: int) -> Entry | None:
        """Request a page (conditionally when gptu holds its last version) and list it."""
        response = self.site.get(self.client, url, page=True, conditional=True)
        if response.url != url and response.url in self.seen:
            return None  # a redirect to a page listed already
        self.seen.add(response.url)
        record = self.old.get(response.url)
        if response.status == 304 and isinstance(record, dict):
            return self.unchanged(response.url, record, depth)
        if response.status != 200:
            raise status_error(response)
        if response.kind == ".html":
            return self.html_entry(response, depth)
        return self.pdf_entry(response) if response.kind == ".pdf" else None

    def validators(self, url: str) -> dict[str, str]:
        """If-None-Match / If-Modified-Since for a page whose version gptu holds."""
        record = self.old.get(url)
        if not isinstance(record, dict):
            return {}
        if record.get("version") and self.scan.known.get(url) != record.get("version"):
            return {}  # gptu needs the content anyway
        headers = {"If-None-Match": record.get("etag"), "If-Modified-Since": record.get("modified")}
        return {name: str(value) for name, value in headers.items() if value}

    def unchanged(self, url: str, record: dict[str, Any], depth: int) -> Entry | None:
        """The entry of a page answered 304: its known version; its links from the state."""
        self.new[url] = record
        self.follow([str(link) for link in record.get("links") or []], depth)
        if not record.get("version"):
            return None
        return Entry(
            key=url,
            version=str(record["version"]),
            label=str(record.get("label") or url),
            parse_as=str(record.get("parse_as") or ".html"),
            read=lambda: self.reread(url),
        )

    def html_entry(self, response: Response, depth: int) -> Entry | None:
        """An HTML page's entry; None when it has no text of its own (links only)."""
        soup = BeautifulSoup(response.body, "lxml", from_encoding=response.encoding)
        links = [link for link in links_of(soup, response.url) if self.site.in_scope(link)]
        self.follow(links, depth)
        label = f"{title_of(soup, response.url)} · {response.url}"
        if response.truncated:
            return self.oversized(response, label)
        content = html_content(soup, response.url)
        version = "" if content is None else sha256(content)
        self.remember(response, version, label, links)
        if content is None:
            return None
        return Entry(response.url, version, label, ".html", lambda: content, len(content))

    def pdf_entry(self, response: Response) -> Entry:
        """A PDF's entry: its bytes as they are."""
        label = f"{page_name(response.url)} · {response.url}"
        if response.truncated:
            return self.oversized(response, label)
        content = response.body
        self.remember(response, sha256(content), label, [])
        return Entry(response.url, sha256(content), label, ".pdf", lambda: content, len(content))

    def oversized(self, response: Response, label: str) -> Entry:
        """The entry of a page over scan.max_bytes: listed, but read() refuses it."""
        length = response.headers.get("content-length", "")
        size = int(length) if length.isdigit() else None
        limit = self.scan.max_bytes

        def refuse() -> bytes:
            raise ItemError(too_big(label, size, limit))

        hint = response.headers.get("etag") or response.headers.get("last-modified")
        version = f"partial:{hint}" if hint else "partial:" + sha256(response.body)
        return Entry(response.url, version, label, response.kind or ".html", refuse, size)

    def reread(self, url: str) -> bytes:
        """A page's content again (its listing was a 304), fetched without conditions."""
        if not self.client.is_closed:
            return self.read_again(self.client, url)
        with self.open_client() as client:
            return self.read_again(client, url)

    def read_again(self, client: httpx.Client, url: str) -> bytes:
        """Fetch url with client and return what its entry's read() returns."""
        try:
            response = self.site.get(client, url, page=True, conditional=False)
        except (PageGone, PageFailed) as exc:
            raise ItemError(str(exc)) from None
        if response.status != 200 or response.kind is None:
            raise ItemError(f"{url} answered {response.status} {response.reason}")
        if response.truncated:
            raise ItemError(too_big(url, None, self.scan.max_bytes))
        if response.kind == ".pdf":
            return response.body
        soup = BeautifulSoup(response.body, "lxml", from_encoding=response.encoding)
        return html_content(soup, url) or b""

    def remember(self, response: Response, version: str, label: str, links: list[str]) -> None:
        """Keep what the next listing needs after a 304: validators, version, label, links."""
        self.new[response.url] = {
            "etag": response.headers.get("etag"),
            "modified": response.headers.get("last-modified"),
            "version": version,
            "label": label,
            "parse_as": response.kind,
            "links": links,
        }

    def follow(self, links: list[str], depth: int) -> None:
        """Queue a page's links one level deeper."""
        self.enqueue(links, depth + 1)

    def enqueue(self, urls: list[str], depth: int) -> None:
        """Queue the URLs in scope, not seen yet and allowed by robots.txt, within max_depth."""
        if depth > self.settings.max_depth:
            return
        for url in urls:
            if url in self.seen or not self.site.in_scope(url):
                continue
            self.seen.add(url)
            if self.site.allowed(url):
                self.queue.append((url, depth))
            else:
                self.disallowed += 1

    def finish(self) -> None:
        """Keep the pages' records in scan.state and say what was skipped."""
        pages = self.new
        if not self.scan.complete:  # keep the records of pages not reached this time
            pages = {url: r for url, r in {**self.old, **self.new}.items() if url not in self.gone}
        self.scan.state["pages"] = pages
        if self.failed:
            self.scan.notes.append(
                f"{len(self.failed)} pages could not be read now and were skipped, their copies"
                f" kept (first: {self.failed[0]})"
            )
        if self.gone:
            first = next(iter(self.gone.values()))
            self.scan.notes.append(f"{len(self.gone)} links led nowhere (first: {first})")
        if self.disallowed:
            self.scan.notes.append(
                f"skipped {self.disallowed} linked pages that robots.txt disallows"
            )


def sha256(data: bytes) -> str:
    """The version of content: "sha256:<hex>"."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def page_name(url: str) -> str:
    """A file's name from its URL (for a PDF's label)."""
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1]) or url
