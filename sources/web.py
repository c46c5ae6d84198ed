"""A web site as a source: the pages under a start URL, as clean HTML of their main text.

The crawl is breadth-first over <a href> links (and the site's sitemap), on the start URL's
scheme, host and port and under its folder, obeying robots.txt. Each page's ETag,
Last-Modified and links are kept in scan.state, so an unchanged page costs one 304 and its
links are still followed. A page's version is the sha256 of the document read() returns, so
a change to a site-wide menu does not re-index every page.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import io
import re
from collections import deque
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin, urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

import httpx
from bs4 import BeautifulSoup, Tag
from lxml import etree
from pydantic import Field, field_validator

from sources.base import Entry, ItemError, Kind, Scan, Settings, SourceError, too_big

MAX_REDIRECTS = 10
SITEMAP_LIMIT = 10_000_000  # bytes of one robots.txt or sitemap
HTML_TYPES = ("text/html", "application/xhtml+xml")
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
CHROME_TAGS = ["script", "style", "noscript", "template", "form", "nav", "header", "footer"]
CHROME_TAGS += ["aside", "iframe", "svg", "button", "select", "textarea"]
CHROME_MARK = re.compile(
    r"(?:^|[\s_-])(menu|nav|navbar|navigation|footer|sidebar|cookies?|breadcrumbs?)(?:$|[\s_-])",
    re.IGNORECASE,
)
KEPT_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6", "p", "ul", "ol", "li", "dl", "dt", "dd", "br"}
KEPT_TAGS |= {"table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td", "pre", "blockquote"}


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


def canonical(url: str) -> str:
    """The URL as an item key: no fragment or user, lower-case scheme and host, no default
    port, '/' for an empty path. Raises ValueError for a malformed port."""
    parts = urlsplit(urldefrag(url)[0])
    host = (parts.hostname or "").lower()
    host = f"[{host}]" if ":" in host else host
    scheme = parts.scheme.lower()
    if parts.port and (scheme, parts.port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{parts.port}"
    return urlunsplit((scheme, host, parts.path or "/", parts.query, ""))


@dataclass
class Response:
    """One answer after redirects: the final URL, its status and headers, and its body (read
    up to a limit; truncated when there was more). kind is ".html", ".pdf" or None."""

    url: str
    status: int
    reason: str
    headers: httpx.Headers
    kind: str | None = None
    body: bytes = b""
    truncated: bool = False
    encoding: str | None = None


class PageGone(Exception):
    """The page is not there (4xx, a redirect off the site or in a loop): skip it."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class PageFailed(Exception):
    """The page cannot be read now (5xx, timeout, connection lost): skip it, keep the copy."""

    def __init__(self, message: str, why: str = "") -> None:
        super().__init__(message)
        self.why = why or message


def reason(exc: Exception, timeout: float) -> str:
    """Why a request failed, in words."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {timeout:g} s"
    if "refused" in text.lower():
        return "connection refused"
    if "name or service not known" in text.lower() or "nodename nor servname" in text.lower():
        return "host name not found"
    return text


def page_kind(response: httpx.Response) -> str | None:
    """What a 200 answer is to gptu: ".html", ".pdf" or None (not an item)."""
    media = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if not media:
        return ".pdf" if response.url.path.lower().endswith(".pdf") else ".html"
    return ".html" if media in HTML_TYPES else ".pdf" if media == "application/pdf" else None


def read_bounded(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """The body up to limit bytes, and whether there was more."""
    chunks: list[bytes] = []
    total = 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            return b"".join(chunks)[:limit], True
    return b"".join(chunks), False


def links_of(soup: BeautifulSoup, url: str) -> list[str]:
    """The canonical URLs of the page's <a href> links, in order, without duplicates."""
    base = soup.find("base", href=True)
    base_url = urljoin(url, str(base["href"])) if isinstance(base, Tag) else url
    found: dict[str, None] = {}
    for anchor in soup.find_all("a", href=True):
        href = str(anchor["href"]).strip()
        if not href or href.lower().startswith(("mailto:", "javascript:", "tel:", "data:")):
            continue
        try:
            found[canonical(urljoin(base_url, href))] = None
        except ValueError:
            continue
    return list(found)


def title_of(soup: BeautifulSoup, url: str) -> str:
    """The page's <title>, else its first <h1>, else its URL."""
    for tag in (soup.title, soup.find("h1")):
        if isinstance(tag, Tag) and (text := " ".join(tag.get_text(" ").split())):
            return text
    return url


def main_of(soup: BeautifulSoup) -> Tag:
    """The page's main part (<main>, <article>, [role=main], else <body>) without menus,
    headers, footers, sidebars, scripts, forms and cookie banners."""
    root = soup.select_one("main, article, [role=main]") or soup.body or soup
    for tag in root.find_all(CHROME_TAGS):
        tag.decompose()
    for tag in root.find_all(True):
        if tag.decomposed:
            continue
        classes = tag.get("class")
        marks = [str(tag.get("id") or ""), *(classes if isinstance(classes, list) else [])]
        if CHROME_MARK.search(" ".join(marks)):
            tag.decompose()
    return root


def document(title: str, main: Tag) -> str:
    """A small clean HTML document: <h1>title</h1>, then the headings, paragraphs, lists and
    tables of main, without attributes; other tags give up their text."""
    for tag in main.find_all(True):
        if tag.name in KEPT_TAGS:
            tag.attrs = {}
        else:
            tag.unwrap()
    body = re.sub(r"\n\s*\n+", "\n", main.decode_contents()).strip()
    name = html.escape(title)
    return (
        f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{name}</title></head>\n'
        f"<body>\n<h1>{name}</h1>\n{body}\n</body></html>\n"
    )


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


def sha256(data: bytes) -> str:
    """The version of content: "sha256:<hex>"."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def page_name(url: str) -> str:
    """A file's name from its URL (for a PDF's label)."""
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1]) or url


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
        self.start = canonical(settings.url)
        parts = urlsplit(self.start)
        self.origin = origin_of(self.start)
        self.prefix = settings.path_prefix or parts.path[: parts.path.rfind("/") + 1]
        old = scan.state.get("pages")
        self.old: dict[str, dict[str, Any]] = old if isinstance(old, dict) else {}
        self.new: dict[str, dict[str, Any]] = {}
        self.queue: deque[tuple[str, int]] = deque()
        self.seen: set[str] = set()  # queued or answered: never requested twice
        self.gone: dict[str, str] = {}  # URL → why (4xx, redirect loop)
        self.failed: list[str] = []  # why, for each page that could not be read now
        self.disallowed = 0
        self.robots = RobotFileParser()

    def run(self) -> Iterator[Entry]:
        """Every page with text under the prefix, as entries; state and notes at the end."""
        self.robots = self.read_robots()
        if not self.allowed(self.start):
            agent = self.settings.user_agent
            raise SourceError(f"{self.origin}/robots.txt does not let {agent} read {self.start}")
        self.seen.add(self.start)
        first = self.visit_start()
        self.enqueue(self.sitemap_urls(), 0)
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
            return self.visit(self.start, 0)
        except PageGone as exc:
            raise SourceError(self.start_refused(exc)) from None
        except PageFailed as exc:
            raise SourceError(str(exc)) from None

    def start_refused(self, exc: PageGone) -> str:
        """Why the start page cannot be read, and what to check."""
        user = self.settings.username
        if exc.status == 401 and user:
            return f"{self.start} refused the password for user {user}: check it"
        if exc.status == 401:
            return f"{self.start} asks for a password: set username and the password secret"
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
        response = self.get(self.client, url, page=True, conditional=True)
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
        links = [link for link in links_of(soup, response.url) if self.in_scope(link)]
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
            response = self.get(client, url, page=True, conditional=False)
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
            if url in self.seen or not self.in_scope(url):
                continue
            self.seen.add(url)
            if self.allowed(url):
                self.queue.append((url, depth))
            else:
                self.disallowed += 1

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

    def read_robots(self) -> RobotFileParser:
        """The site's robots.txt (none: everything allowed). SourceError when the site cannot
        be reached or answers 5xx."""
        url = self.origin + "/robots.txt"
        try:
            response = self.get(self.client, url, page=False, conditional=False)
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
        return robots

    def sitemap_urls(self) -> list[str]:
        """The URLs of the sitemaps robots.txt names (else /sitemap.xml); ignored if broken."""
        pending = deque((self.robots.site_maps() or [self.origin + "/sitemap.xml"])[:10])
        urls: list[str] = []
        for _ in range(20):  # an index of sitemaps is read, but not without end
            if not pending:
                break
            try:
                response = self.get(self.client, pending.popleft(), page=False, conditional=False)
                if response.status != 200 or response.truncated:
                    continue
                is_index, locs = sitemap_locs(response.body)
            except (PageGone, PageFailed, OSError, EOFError, ValueError, etree.LxmlError):
                continue
            (pending if is_index else urls).extend(locs)
        return [canonical(url) for url in urls if safe_url(url)]

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


def status_error(response: Response) -> Exception:
    """What an answer other than 200 or 304 means for a page: gone (4xx) or failed (5xx)."""
    text = f"{response.url} answered {response.status} {response.reason}".rstrip()
    if response.status >= 500 or response.status in (304, 408, 429):
        return PageFailed(text)
    return PageGone(text, response.status)


def html_content(soup: BeautifulSoup, url: str) -> bytes | None:
    """The clean document of a parsed page; None when its main part has no text."""
    title = title_of(soup, url)
    main = main_of(soup)
    if not main.get_text(strip=True):
        return None
    return document(title, main).encode()


def safe_url(url: str) -> bool:
    """Whether url can be made canonical."""
    try:
        canonical(url)
    except ValueError:
        return False
    return True


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL, as canonical() writes it."""
    parts = urlsplit(canonical(url))
    return f"{parts.scheme}://{parts.netloc}"


class SiteAuth(httpx.Auth):
    """HTTP Basic credentials sent to the site's own origin only, never to another host that
    robots.txt, a sitemap or a redirect names."""

    def __init__(self, origin: str, user: str, password: str) -> None:
        self.origin = origin
        self.basic = httpx.BasicAuth(user, password)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the credentials when the request goes to the site."""
        if origin_of(str(request.url)) == self.origin:
            yield from self.basic.auth_flow(request)
        else:
            yield request


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
