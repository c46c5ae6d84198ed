"""URLs and HTTP answers for the web source: canonical URLs, bounded bodies, page errors, auth."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from urllib.parse import urldefrag, urlsplit, urlunsplit

import httpx

HTML_TYPES = ("text/html", "application/xhtml+xml")


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


def status_error(response: Response) -> Exception:
    """What an answer other than 200 or 304 means for a page: gone (4xx) or failed (5xx)."""
    text = f"{response.url} answered {response.status} {response.reason}".rstrip()
    if response.status >= 500 or response.status in (304, 408, 429):
        return PageFailed(text)
    return PageGone(text, response.status)


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
