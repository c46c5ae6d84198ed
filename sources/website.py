"""The site a crawl reads: its scope, robots.txt, sitemaps, and GETs that follow redirects."""

from __future__ import annotations

import gzip
import io
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import httpx
from lxml import etree

from sources.base import Scan, SourceError
from sources.webhttp import (
    PageFailed,
    PageGone,
    Response,
    canonical,
    origin_of,
    page_kind,
    read_bounded,
    reason,
    safe_url,
)

if TYPE_CHECKING:
    from sources.web import WebSettings

MAX_REDIRECTS = 10
SITEMAP_LIMIT = 10_000_000  # bytes of one robots.txt or sitemap
SKIPPED_SUFFIXES: tuple[str, ...] = (
    ".png",
    ".jpg",
    ".jpeg",
    ".gif",
    ".svg",
    ".webp",
    ".ico",
    ".css",
    ".js",
)
SKIPPED_SUFFIXES += (".zip", ".gz", ".tar", ".mp3", ".mp4", ".woff2", ".woff", ".exe", ".iso")


class Site:
    """One web site as a crawl sees it: the start URL's origin and folder, and its robots.txt.
    validators(url) gives the headers of a conditional GET of url."""

    def __init__(
        self, settings: WebSettings, scan: Scan, validators: Callable[[str], dict[str, str]]
    ) -> None:
        self.settings = settings
        self.scan = scan
        self.validators = validators
        self.start = canonical(settings.url)
        parts = urlsplit(self.start)
        self.origin = origin_of(self.start)
        self.prefix = settings.path_prefix or parts.path[: parts.path.rfind("/") + 1]
        self.robots = RobotFileParser()

    def get(self, client: httpx.Client, url: str, *, page: bool, conditional: bool) -> Response:
        """GET url, following up to MAX_REDIRECTS redirects (a page's only within the site and
        robots.txt). PageGone for a redirect loop or one off the site; PageFailed when the
        server cannot be reached."""
        hops = [url]
        for _ in range(MAX_REDIRECTS + 1):
            headers = self.validators(url) if conditional else {}
            try:
                with client.stream("GET", url, headers=headers) as response:
                    if not response.has_redirect_location:
                        return self.answer(url, response, page)
                    url = self.next_hop(hops, response.headers["location"], page)
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                why = reason(exc, self.scan.timeout)
                raise PageFailed(f"cannot reach {url}: {why}", why) from exc
        raise PageGone(f"{hops[0]} redirects more than {MAX_REDIRECTS} times")

    def next_hop(self, hops: list[str], location: str, page: bool) -> str:
        """Where a redirect leads, when the crawl may go there."""
        try:
            target = canonical(urljoin(hops[-1], location))
        except ValueError:
            raise PageGone(f"{hops[0]} redirects to a malformed address: {location}") from None
        if target in hops:
            raise PageGone(f"{hops[0]} redirects in a loop ({' → '.join([*hops, target])})")
        if page and not self.in_scope(target):
            raise PageGone(f"{hops[0]} redirects to {target}, outside {self.origin}{self.prefix}")
        if page and not self.allowed(target):
            raise PageGone(f"{hops[0]} redirects to {target}, which robots.txt disallows")
        hops.append(target)
        return target

    def answer(self, url: str, response: httpx.Response, page: bool) -> Response:
        """The answer, with its body read (up to the limit) when gptu wants it."""
        result = Response(url, response.status_code, response.reason_phrase, response.headers)
        if response.status_code != 200:
            return result
        result.kind = page_kind(response) if page else None
        if page and result.kind is None:
            return result
        limit = self.scan.max_bytes if page else SITEMAP_LIMIT
        result.body, result.truncated = read_bounded(response, limit)
        result.encoding = response.charset_encoding
        return result

    def in_scope(self, url: str) -> bool:
        """Whether url is on the start's scheme, host and port, under the path prefix, and
        not obviously an image, script or archive."""
        parts = urlsplit(url)
        path = parts.path.lower()
        return (
            f"{parts.scheme}://{parts.netloc}" == self.origin
            and parts.path.startswith(self.prefix)
            and not path.endswith(SKIPPED_SUFFIXES)
        )

    def allowed(self, url: str) -> bool:
        """Whether robots.txt lets our user agent read url."""
        return self.robots.can_fetch(self.settings.user_agent, url)

    def read_robots(self, client: httpx.Client) -> None:
        """Read the site's robots.txt (none: everything allowed). SourceError when the site
        cannot be reached or answers 5xx."""
        url = self.origin + "/robots.txt"
        try:
            response = self.get(client, url, page=False, conditional=False)
        except PageFailed as exc:
            raise SourceError(f"cannot reach {self.start}: {exc.why}") from None
        except PageGone:
            response = Response(url, 404, "Not Found", httpx.Headers())
        lines = response.body.decode("utf-8", "replace").splitlines()
        if response.status >= 500 or response.status in (408, 429):
            status = f"{response.status} {response.reason}"
            raise SourceError(f"{url} answered {status}: the site is not ready, try later")
        if response.status >= 400:
            lines = []  # RFC 9309: robots.txt unavailable (any 4xx), so everything is allowed
        robots = RobotFileParser(url)
        robots.parse(lines)
        self.robots = robots

    def sitemap_urls(self, client: httpx.Client) -> list[str]:
        """The URLs of the sitemaps robots.txt names (else /sitemap.xml); ignored if broken."""
        pending = deque((self.robots.site_maps() or [self.origin + "/sitemap.xml"])[:10])
        urls: list[str] = []
        for _ in range(20):  # an index of sitemaps is read, but not without end
            if not pending:
                break
            try:
                response = self.get(client, pending.popleft(), page=False, conditional=False)
                if response.status != 200 or response.truncated:
                    continue
                is_index, locs = sitemap_locs(response.body)
            except (PageGone, PageFailed, OSError, EOFError, ValueError, etree.LxmlError):
                continue
            (pending if is_index else urls).extend(locs)
        return [canonical(url) for url in urls if safe_url(url)]


def sitemap_locs(body: bytes) -> tuple[bool, list[str]]:
    """Whether a sitemap is an index of sitemaps, and the URLs it lists."""
    if body[:2] == b"\x1f\x8b":
        with gzip.GzipFile(fileobj=io.BytesIO(body)) as unzipped:
            body = unzipped.read(SITEMAP_LIMIT)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=True)
    root = etree.fromstring(body, parser) if body.strip() else None
    if root is None:
        return False, []
    locs = [
        el.text.strip()
        for el in root.iter()
        if isinstance(el.tag, str) and etree.QName(el).localname == "loc" and el.text
    ]
    return etree.QName(root).localname == "sitemapindex", locs
