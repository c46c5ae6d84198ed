"""A real web site for the web source's tests: Python's ThreadingHTTPServer over a folder.

It answers with real ETag and Last-Modified headers and 304 to conditional requests, serves
robots.txt (disallowing /docs/private/) and sitemap.xml, and records every request. Every page
carries a site menu (linking every page), a header, a cookie banner and a footer around its
<main>; the index at /docs/ has links only, in its menu.
"""

from __future__ import annotations

import base64
import hashlib
import html
import shutil
import threading
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".pdf": "application/pdf"}
CONTENT_TYPES |= {".xml": "application/xml", ".txt": "text/plain; charset=utf-8"}
CHROME = (
    '<header class="site-header">Example Docs header</header>\n'
    '<div class="cookie-banner">We use cookies</div>\n'
    "<nav>Site menu: {links}</nav>\n"
)
USER = "alice"
FOOTER = '<footer>Copyright Example Corp</footer>\n<div id="sidebar">Related sidebar</div>\n'


@dataclass(frozen=True)
class Hit:
    """One request the server answered."""

    path: str
    status: int
    conditional: bool
    authorized: bool = False  # it carried an Authorization header


class WebSite:
    """A folder of pages under /docs/, served on 127.0.0.1 and a free port."""

    kind = "web"

    def __init__(self, tmp: Path) -> None:
        self.root = tmp / "www"
        (self.root / "docs" / "private").mkdir(parents=True)
        self.texts: dict[str, str] = {}
        self.in_sitemap: list[str] = []
        self.redirects: dict[str, str] = {}
        self.statuses: dict[str, int] = {}
        self.hits: list[Hit] = []
        self.password: str | None = None  # set: every path asks USER for it (HTTP Basic)
        self.sitemap_at = ""  # set: robots.txt names this sitemap instead of its own
        self.lock = threading.Lock()
        self.server = SiteServer(("127.0.0.1", 0), Handler)
        self.server.site = self
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        serve = lambda: self.server.serve_forever(poll_interval=0.05)  # noqa: E731
        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        self.render()

    def settings(self) -> dict[str, Any]:
        """The source's settings: the /docs/ folder."""
        return {"url": self.base + "/docs/"}

    def secrets(self) -> dict[str, str]:
        """None: the site is public."""
        return {}

    def write(self, name: str, text: str) -> None:
        """Write /docs/<name>.html holding text as its one paragraph; re-render the menus."""
        self.texts[name] = text
        self.render()

    def remove(self, name: str) -> None:
        """Delete /docs/<name>.html and its links."""
        del self.texts[name]
        (self.root / "docs" / f"{name}.html").unlink()
        self.render()

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, path: str) -> str:
        """The full URL of a path like /docs/alpha.html."""
        return self.base + path

    def put(self, path: str, content: str | bytes, *, sitemap: bool = False) -> None:
        """Serve content at path (not linked from the menu; listed in sitemap.xml if asked)."""
        target = self.root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        write_if_changed(target, content.encode() if isinstance(content, str) else content)
        if sitemap and path not in self.in_sitemap:
            self.in_sitemap.append(path)
            self.render()

    def requested(self, prefix: str) -> list[Hit]:
        """The requests so far for paths starting with prefix."""
        with self.lock:
            return [hit for hit in self.hits if hit.path.startswith(prefix)]

    def render(self) -> None:
        """Write every page, the index, robots.txt and sitemap.xml as they are now."""
        menu = " ".join(f'<a href="/docs/{name}.html">{name}</a>' for name in sorted(self.texts))
        menu = f'<a href="/docs/">Home</a> {menu} <a href="/docs/private/">Private</a>'
        for name, text in self.texts.items():
            body = f"<main>\n<p>{html.escape(text)}</p>\n</main>"
            write_if_changed(self.root / "docs" / f"{name}.html", page(name, body, menu))
        write_if_changed(self.root / "docs" / "index.html", page("Index", "<main></main>", menu))
        private = page("Private", "<main><p>Private notes</p></main>", menu)
        write_if_changed(self.root / "docs" / "private" / "index.html", private)
        named = self.sitemap_at or f"{self.base}/sitemap.xml"
        robots = f"User-agent: *\nDisallow: /docs/private/\nSitemap: {named}\n"
        write_if_changed(self.root / "robots.txt", robots.encode())
        paths = ["/docs/", *(f"/docs/{name}.html" for name in sorted(self.texts))]
        locs = "".join(f"<url><loc>{self.base}{p}</loc></url>" for p in paths + self.in_sitemap)
        sitemap = '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        write_if_changed(self.root / "sitemap.xml", f"{sitemap}{locs}</urlset>\n".encode())


def page(name: str, main: str, menu: str) -> bytes:
    """A whole page: title, header, cookie banner, menu, main, footer, sidebar, script."""
    return (
        f"<!doctype html>\n<html><head><title>{name.capitalize()} page</title>"
        "<style>nav { color: red }</style></head>\n<body>\n"
        + CHROME.format(links=menu)
        + main
        + "\n"
        + FOOTER
        + "<script>console.log('tracking script')</script>\n</body></html>\n"
    ).encode()


def write_if_changed(path: Path, data: bytes) -> None:
    """Write data unless the file holds it already (so its ETag and mtime stay)."""
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)


def basic(user: str, password: str) -> str:
    """The Authorization header of HTTP Basic."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class SiteServer(ThreadingHTTPServer):
    """The HTTP server, knowing its site."""

    daemon_threads = True
    site: WebSite


class Handler(BaseHTTPRequestHandler):
    """Serves the site's folder with ETag, Last-Modified and 304s; redirects and forced
    statuses first."""

    def do_GET(self) -> None:
        """Answer one GET, recorded before it is sent (so a test sees it once answered)."""
        site = cast(SiteServer, self.server).site
        path = urlsplit(self.path).path
        conditional = bool(
            self.headers.get("If-None-Match") or self.headers.get("If-Modified-Since")
        )
        authorization = self.headers.get("Authorization", "")
        status, body, headers = self.answer(site, path)
        if site.password and authorization != basic(USER, site.password):
            status, body, headers = 401, b"who are you?\n", {"WWW-Authenticate": 'Basic realm="x"'}
        with site.lock:
            site.hits.append(Hit(path, status, conditional, bool(authorization)))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def answer(self, site: WebSite, path: str) -> tuple[int, bytes, dict[str, str]]:
        """The status, body and headers for path."""
        if path in site.redirects:
            return 302, b"", {"Location": site.redirects[path]}
        if path in site.statuses:
            return site.statuses[path], b"broken\n", {"Content-Type": "text/plain"}
        file = site.root / (path.lstrip("/") + ("index.html" if path.endswith("/") else ""))
        if ".." in path or not file.is_file():
            return 404, b"not found\n", {"Content-Type": "text/plain"}
        data = file.read_bytes()
        mtime = int(file.stat().st_mtime)
        headers = {
            "ETag": '"' + hashlib.sha256(data).hexdigest()[:16] + '"',
            "Last-Modified": formatdate(mtime, usegmt=True),
            "Content-Type": CONTENT_TYPES.get(file.suffix, "application/octet-stream"),
        }
        if self.not_modified(headers["ETag"], mtime):
            return 304, b"", {"ETag": headers["ETag"]}
        return 200, data, headers

    def not_modified(self, etag: str, mtime: int) -> bool:
        """Whether the request's validators match (If-None-Match wins over the date)."""
        if match := self.headers.get("If-None-Match"):
            return etag in [tag.strip() for tag in match.split(",")]
        if since := self.headers.get("If-Modified-Since"):
            return parsedate_to_datetime(since).timestamp() >= mtime
        return False

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read site.hits instead."""


def start(tmp: Path) -> WebSite:
    """Start the web site, with no pages yet."""
    return WebSite(tmp)
