"""The web source against a real HTTP server (tests/sources/site_web.py)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from sources.base import Entry, ItemError, Scan, SourceError
from sources.web import KIND, WebSettings
from tests.sources import sites
from tests.sources.site_web import WebSite, start


@pytest.fixture
def site(tmp_path: Path) -> Iterator[WebSite]:
    """The site with two pages, alpha and bravo."""
    web = start(tmp_path)
    web.write("alpha", "The alpha page says version one.")
    web.write("bravo", "The bravo page talks about boats.")
    try:
        yield web
    finally:
        web.stop()


def listing(
    site: WebSite,
    tmp: Path,
    *,
    known: dict[str, str] | None = None,
    state: dict[str, Any] | None = None,
    max_bytes: int = 1_000_000,
    secrets: dict[str, str] | None = None,
    **settings: Any,
) -> tuple[dict[str, Entry], Scan]:
    """List the site once; the entries by key, and the scan with its state and notes."""
    scan = Scan(known=known or {}, state=state or {}, folder=tmp, max_bytes=max_bytes, timeout=5)
    given = WebSettings.model_validate({**site.settings(), **settings})
    connector = KIND.make(given, secrets or site.secrets())
    return {entry.key: entry for entry in connector.entries(scan)}, scan


def again(site: WebSite, tmp: Path, entries: dict[str, Entry], scan: Scan) -> dict[str, Entry]:
    """List the site again, as the sync does after a complete listing that read everything."""
    known = {key: entry.version for key, entry in entries.items()}
    return listing(site, tmp, known=known, state=scan.state)[0]


def test_the_content_is_the_main_text_without_menus(site: WebSite, tmp_path: Path) -> None:
    entries, scan = listing(site, tmp_path)
    alpha = site.url("/docs/alpha.html")
    assert set(entries) == {alpha, site.url("/docs/bravo.html")}  # the index has no text
    assert entries[alpha].label == f"Alpha page · {alpha}"
    assert entries[alpha].parse_as == ".html"
    content = entries[alpha].read().decode()
    assert "<h1>Alpha page</h1>" in content
    assert "<p>The alpha page says version one.</p>" in content
    for chrome in ("Site menu", "header", "cookies", "Example Corp", "sidebar", "tracking", "red"):
        assert chrome not in content
    assert scan.complete


def test_without_main_the_body_is_read_without_its_chrome(site: WebSite, tmp_path: Path) -> None:
    body = (
        "<header>Top bar</header><nav>Menu links</nav><aside>Aside box</aside>"
        '<div class="main-menu">Drop-down menu</div><div id="cookie-consent">Accept all</div>'
        "<form><p>Search form</p></form><script>var tracker = 1;</script>"
        '<div class="content"><h2>Steps</h2><ol><li>Unpack</li></ol>'
        '<table class="wide"><tr><th>Port</th><td>8080</td></tr></table></div>'
        "<footer>Footer text</footer>"
    )
    site.put("/docs/plain.html", f"<title>Plain</title><body>{body}</body>", sitemap=True)
    entries, _ = listing(site, tmp_path)
    content = entries[site.url("/docs/plain.html")].read().decode()
    for kept in ("<h2>Steps</h2>", "<li>Unpack</li>", "<th>Port</th>", "<td>8080</td>"):
        assert kept in content
    for dropped in ("Top", "Menu", "Aside", "Drop-down", "Accept", "Search", "tracker", "Footer"):
        assert dropped not in content
    assert "class=" not in content


def test_robots_disallowed_pages_are_never_requested(site: WebSite, tmp_path: Path) -> None:
    entries, scan = listing(site, tmp_path)
    assert site.requested("/robots.txt")
    assert site.requested("/docs/alpha.html")
    assert site.requested("/docs/private/") == []
    assert b'href="/docs/private/"' in httpx.get(site.url("/docs/alpha.html")).content
    assert httpx.get(site.url("/docs/private/")).status_code == 200  # it is there, and linked
    assert not any(key.startswith(site.url("/docs/private/")) for key in entries)
    assert any("robots.txt" in note for note in scan.notes)


def test_a_page_only_the_sitemap_lists_is_found(site: WebSite, tmp_path: Path) -> None:
    site.put("/docs/hidden.html", "<title>Hidden</title><main><p>Only in the sitemap</p></main>")
    site.put("/docs/orphan.html", "<title>Orphan</title><main><p>Nowhere</p></main>")
    site.put("/docs/listed.html", "<title>Listed</title><main><p>Listed</p></main>", sitemap=True)
    entries, _ = listing(site, tmp_path)
    assert site.url("/docs/listed.html") in entries
    assert site.url("/docs/orphan.html") not in entries
    assert b"Listed" in entries[site.url("/docs/listed.html")].read()


def test_max_pages_stops_the_listing_as_incomplete(site: WebSite, tmp_path: Path) -> None:
    site.write("charlie", "Charlie.")
    entries, scan = listing(site, tmp_path, max_pages=2)
    assert len(entries) == 2
    assert not scan.complete
    assert any("max_pages=2" in note for note in scan.notes)
    entries, scan = listing(site, tmp_path, max_pages=3)
    assert len(entries) == 3
    assert scan.complete


def test_links_are_followed_to_max_depth_only(site: WebSite, tmp_path: Path) -> None:
    for n in (1, 2, 3):
        link = f'<a href="{n + 1}.html">next</a>'
        site.put(f"/docs/deep/{n}.html", f"<title>Deep {n}</title><p>Level {n}</p>{link}")
    url = site.url("/docs/deep/1.html")
    entries, _ = listing(site, tmp_path, url=url, max_depth=1)
    assert sorted(entries) == [site.url("/docs/deep/1.html"), site.url("/docs/deep/2.html")]
    assert not site.requested("/docs/deep/3.html")
    entries, _ = listing(site, tmp_path, url=url, max_depth=2)
    assert site.url("/docs/deep/3.html") in entries
    assert not site.requested("/docs/deep/4.html")


def test_an_unchanged_site_answers_304_and_keeps_every_version(
    site: WebSite, tmp_path: Path
) -> None:
    first, scan = listing(site, tmp_path)
    before = {key: entry.read() for key, entry in first.items()}
    site.hits.clear()
    second = again(site, tmp_path, first, scan)
    assert {key: entry.version for key, entry in second.items()} == {
        key: entry.version for key, entry in first.items()
    }
    pages = [hit for hit in site.hits if hit.path.startswith("/docs/")]
    assert {hit.path for hit in pages} == {"/docs/", "/docs/alpha.html", "/docs/bravo.html"}
    assert all(hit.status == 304 and hit.conditional for hit in pages)
    assert {key: entry.read() for key, entry in second.items()} == before  # read() refetches


def test_a_change_gives_exactly_one_new_version(site: WebSite, tmp_path: Path) -> None:
    first, scan = listing(site, tmp_path)
    site.write("alpha", "The alpha page says version two.")
    second = again(site, tmp_path, first, scan)
    changed = [key for key in first if second[key].version != first[key].version]
    assert changed == [site.url("/docs/alpha.html")]
    assert b"version two" in second[changed[0]].read()


def test_a_menu_change_keeps_the_versions(site: WebSite, tmp_path: Path) -> None:
    first, scan = listing(site, tmp_path)
    site.write("charlie", "A new page: every menu links it.")
    site.hits.clear()
    second = again(site, tmp_path, first, scan)
    assert site.requested("/docs/alpha.html")[0].status == 200  # its bytes changed
    assert (
        second[site.url("/docs/alpha.html")].version == first[site.url("/docs/alpha.html")].version
    )
    assert set(second) - set(first) == {site.url("/docs/charlie.html")}


def test_a_removed_page_is_no_longer_listed(site: WebSite, tmp_path: Path) -> None:
    first, scan = listing(site, tmp_path)
    site.remove("bravo")
    known = {key: entry.version for key, entry in first.items()}
    second, rescan = listing(site, tmp_path, known=known, state=scan.state)
    assert set(second) == {site.url("/docs/alpha.html")}
    assert rescan.complete  # so the sync deletes bravo
    assert site.url("/docs/bravo.html") not in rescan.state["pages"]


def test_a_page_gptu_does_not_hold_is_fetched_whole(site: WebSite, tmp_path: Path) -> None:
    first, scan = listing(site, tmp_path)
    site.hits.clear()
    alpha = site.url("/docs/alpha.html")
    known = {key: entry.version for key, entry in first.items() if key != alpha}
    listing(site, tmp_path, known=known, state=scan.state)
    assert [(hit.status, hit.conditional) for hit in site.requested("/docs/alpha.html")] == [
        (200, False)
    ]
    assert [hit.status for hit in site.requested("/docs/bravo.html")] == [304]


def test_a_broken_page_is_skipped_and_the_listing_is_incomplete(
    site: WebSite, tmp_path: Path
) -> None:
    links = '<a href="gone.html">gone</a> <a href="broken.html">broken</a>'
    site.put("/docs/links.html", f"<title>Links</title><p>Links here</p>{links}", sitemap=True)
    entries, scan = listing(site, tmp_path)
    assert site.url("/docs/alpha.html") in entries and scan.complete  # a 404 is just gone
    site.put("/docs/broken.html", "<title>Broken</title><p>Soon broken</p>")
    site.statuses["/docs/broken.html"] = 500
    entries, scan = listing(site, tmp_path)
    assert site.url("/docs/broken.html") not in entries
    assert not scan.complete  # so the copy gptu holds is kept
    assert any("broken.html answered 500" in note for note in scan.notes)


def test_a_pdf_is_listed_as_it_is(site: WebSite, tmp_path: Path) -> None:
    pdf = b"%PDF-1.4\n% a tiny stand-in\n%%EOF\n"
    site.put("/docs/manual.pdf", pdf)
    site.put(
        "/docs/guide.html", '<title>G</title><p>See <a href="manual.pdf">it</a></p>', sitemap=True
    )
    entries, _ = listing(site, tmp_path)
    entry = entries[site.url("/docs/manual.pdf")]
    assert (entry.parse_as, entry.read()) == (".pdf", pdf)
    assert entry.label == f"manual.pdf · {site.url('/docs/manual.pdf')}"


def test_a_page_over_the_limit_is_refused_when_read(site: WebSite, tmp_path: Path) -> None:
    site.write("huge", "many words " * 2_000)
    entries, _ = listing(site, tmp_path, max_bytes=8_000)
    assert entries[site.url("/docs/alpha.html")].read()
    huge = entries[site.url("/docs/huge.html")]
    assert huge.size == (site.root / "docs" / "huge.html").stat().st_size  # from Content-Length
    with pytest.raises(
        ItemError, match=r"Huge page · \S+/huge\.html is .+; the limit is 0\.008 MB"
    ):
        huge.read()


def test_a_missing_start_page_is_a_source_error(site: WebSite, tmp_path: Path) -> None:
    url = site.url("/docs/nothere/")
    with pytest.raises(SourceError, match=f"{url} answered 404 Not Found; check the url"):
        listing(site, tmp_path, url=url)


def test_an_unreachable_site_is_a_source_error(site: WebSite, tmp_path: Path) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    url = f"http://127.0.0.1:{port}/docs/"
    with pytest.raises(SourceError, match=f"cannot reach {url}: connection refused"):
        listing(site, tmp_path, url=url)


def test_a_redirect_loop_at_the_start_is_a_source_error(site: WebSite, tmp_path: Path) -> None:
    site.redirects |= {"/docs/loop/a": "/docs/loop/b", "/docs/loop/b": "/docs/loop/a"}
    with pytest.raises(SourceError, match="redirects in a loop"):
        listing(site, tmp_path, url=site.url("/docs/loop/a"))
    site.redirects["/docs/moved/"] = "/docs/"
    entries, _ = listing(site, tmp_path, url=site.url("/docs/moved/"), path_prefix="/docs/")
    assert site.url("/docs/alpha.html") in entries  # a plain redirect is followed


def test_a_site_behind_a_password(site: WebSite, tmp_path: Path) -> None:
    site.password = "open-sesame-42"
    with pytest.raises(SourceError, match="asks for a password: set username and the password"):
        listing(site, tmp_path)
    with pytest.raises(SourceError, match="refused the password for user alice: check it") as no:
        listing(site, tmp_path, username="alice", secrets={"password": "wrong-guess-7"})
    assert "wrong-guess-7" not in str(no.value)
    other = start(tmp_path / "other")  # a sitemap on another host never gets the password
    try:
        site.sitemap_at = other.url("/sitemap.xml")
        site.render()
        good = {"password": "open-sesame-42"}
        entries, _ = listing(site, tmp_path, username="alice", secrets=good)
        assert site.url("/docs/alpha.html") in entries
        assert all(hit.authorized for hit in site.hits[-3:])
        assert [hit.authorized for hit in other.requested("/sitemap.xml")] == [False]
    finally:
        other.stop()


def test_settings_refuse_other_schemes_and_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="http"):
        WebSettings(url="ftp://example.org/docs/")
    with pytest.raises(ValidationError, match="extra"):
        WebSettings.model_validate({"url": "https://example.org/", "depth": 3})
    assert WebSettings(url="https://example.org/").max_pages == 500


def test_the_site_starts_through_the_shared_interface(tmp_path: Path) -> None:
    web = sites.start("web", tmp_path)
    try:
        web.write("alpha", "Through the shared interface.")
        assert (web.kind, web.secrets()) == ("web", {})
        assert b"Through the shared" in httpx.get(web.settings()["url"] + "alpha.html").content
    finally:
        web.stop()
