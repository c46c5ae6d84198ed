"""The git connector against real local repositories: listing, incremental syncs, errors."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

import pytest

from sources.base import Entry, ItemError, Scan, SourceError
from sources.git import KIND, GitSettings
from tests.pdfs import text_pdf
from tests.servers import Recorder
from tests.sources.site_git import GitSite, run, start

MB = 1_000_000


@pytest.fixture
def site(tmp_path: Path) -> Iterator[GitSite]:
    """An empty local repository, removed after the test."""
    made = start(tmp_path / "site")
    try:
        yield made
    finally:
        made.stop()


def listing(
    site: GitSite, folder: Path, known: dict[str, str] | None = None, **settings: object
) -> tuple[dict[str, Entry], Scan]:
    """List the site's repository once, with the folder kept between listings."""
    connector = KIND.make(GitSettings(**{**site.settings(), **settings}), site.secrets())
    scan = Scan(known=known or {}, state={}, folder=folder, max_bytes=MB, timeout=10)
    return {e.key: e for e in connector.entries(scan)}, scan


def versions(entries: dict[str, Entry]) -> dict[str, str]:
    """key → version."""
    return {key: entry.version for key, entry in entries.items()}


def blob_sha(site: GitSite, path: str) -> str:
    """The blob sha of path on main, as git itself says."""
    return run(site.bare, "rev-parse", f"main:{path}").strip()


def test_lists_the_branch_files_with_blob_versions(site: GitSite, tmp_path: Path) -> None:
    site.write("alpha", "The alpha text.")
    site.write("bravo", "The bravo text.")
    entries, scan = listing(site, tmp_path)
    assert sorted(entries) == ["docs/alpha.md", "docs/bravo.md"]
    alpha = entries["docs/alpha.md"]
    assert alpha.version == blob_sha(site, "docs/alpha.md")
    assert alpha.label == "docs: docs/alpha.md"
    assert alpha.parse_as == ".md"
    assert alpha.read() == b"# Alpha\n\nThe alpha text.\n"
    assert alpha.size == len(alpha.read())
    assert scan.state["commit"] == run(site.bare, "rev-parse", "main").strip()


def test_paths_and_extensions_choose_the_files(site: GitSite, tmp_path: Path) -> None:
    site.write("alpha", "Taken.")
    site.put("src/main.py", b"print('not a document')\n")
    site.put("notes/todo.md", b"outside docs\n")
    site.put("docs/manual.adoc", b"= Manual\n\nAsciiDoc text.\n")
    site.put("docs/howto.markdown", b"# How\n")
    entries, _ = listing(site, tmp_path)
    assert sorted(entries) == [
        "docs/alpha.md",
        "docs/howto.markdown",
        "docs/manual.adoc",
        "notes/todo.md",
    ]
    assert entries["docs/manual.adoc"].parse_as == ".txt"  # gptu reads no AsciiDoc
    assert entries["docs/howto.markdown"].parse_as == ".md"
    only_docs, _ = listing(site, tmp_path, paths=["docs/"], extensions=["md", ".ADOC"])
    assert sorted(only_docs) == ["docs/alpha.md", "docs/manual.adoc"]
    one_file, _ = listing(site, tmp_path, paths=["notes/todo.md"])
    assert sorted(one_file) == ["notes/todo.md"]


def test_unchanged_changed_and_deleted(site: GitSite, tmp_path: Path) -> None:
    site.write("alpha", "Alpha one.")
    site.write("bravo", "Bravo one.")
    first, _ = listing(site, tmp_path)
    fetched = (tmp_path / "repo.git" / "FETCH_HEAD").stat().st_mtime_ns

    again, _ = listing(site, tmp_path, known=versions(first))
    assert versions(again) == versions(first)
    assert (tmp_path / "repo.git" / "FETCH_HEAD").stat().st_mtime_ns == fetched  # no fetch

    site.write("alpha", "Alpha two.")
    changed, _ = listing(site, tmp_path, known=versions(again))
    assert [k for k in changed if changed[k].version != first[k].version] == ["docs/alpha.md"]
    assert b"Alpha two." in changed["docs/alpha.md"].read()

    site.remove("bravo")
    after, _ = listing(site, tmp_path, known=versions(changed))
    assert sorted(after) == ["docs/alpha.md"]


def test_another_branch_changes_nothing(site: GitSite, tmp_path: Path) -> None:
    site.write("alpha", "Alpha on main.")
    first, scan = listing(site, tmp_path)
    site.put("docs/alpha.md", b"# Alpha\n\nAlpha on dev.\n", branch="dev")
    site.put("docs/extra.md", b"# Extra\n", branch="dev")
    again, rescan = listing(site, tmp_path, known=versions(first))
    assert versions(again) == versions(first)
    assert rescan.state["commit"] == scan.state["commit"]
    dev, _ = listing(site, tmp_path, branch="dev")
    assert sorted(dev) == ["docs/alpha.md", "docs/extra.md"]


def test_missing_branch_names_the_branches(site: GitSite, tmp_path: Path) -> None:
    site.write("alpha", "Alpha.")
    site.put("docs/dev.md", b"dev\n", branch="dev")
    with pytest.raises(SourceError) as error:
        listing(site, tmp_path, branch="release")
    assert "has no branch release (it has: dev, main)" in str(error.value)


def test_bad_url_says_what_git_said(tmp_path: Path) -> None:
    missing = (tmp_path / "nowhere.git").as_uri()
    connector = KIND.make(GitSettings(url=missing), {})
    scan = Scan(known={}, state={}, folder=tmp_path, max_bytes=MB, timeout=10)
    with pytest.raises(SourceError) as error:
        list(connector.entries(scan))
    message = str(error.value)
    assert message.startswith(f"git could not read {missing}: ")
    assert "does not appear to be a git repository" in message or "not exist" in message


def test_token_never_shows_in_errors(tmp_path: Path) -> None:
    url = "https://someone:hunter2@127.0.0.1:9/org/repo.git"  # port 9: nothing listens
    connector = KIND.make(GitSettings(url=url), {"token": "ghp_secret_token"})
    scan = Scan(known={}, state={}, folder=tmp_path, max_bytes=MB, timeout=10)
    with pytest.raises(SourceError) as error:
        list(connector.entries(scan))
    message = str(error.value)
    assert "https://127.0.0.1:9/org/repo.git" in message
    assert "hunter2" not in message and "ghp_secret_token" not in message


def test_pdf_listed_with_size_and_big_files_refused(site: GitSite, tmp_path: Path) -> None:
    pdf = text_pdf([["A PDF in the repository."]])
    site.put("docs/guide.pdf", pdf)
    site.put("docs/big.txt", b"x" * (MB + 1))
    entries, _ = listing(site, tmp_path)
    guide = entries["docs/guide.pdf"]
    assert (guide.parse_as, guide.size) == (".pdf", len(pdf))
    assert guide.read() == pdf
    big = entries["docs/big.txt"]
    assert big.size == MB + 1
    with pytest.raises(ItemError, match="the limit is 1 MB"):
        big.read()


def test_settings_refuse_options_and_unknown_fields() -> None:
    with pytest.raises(ValueError):
        GitSettings(url="--upload-pack=touch /tmp/x")
    with pytest.raises(ValueError):
        GitSettings.model_validate({"url": "file:///x", "brnach": "dev"})


class Refusing(BaseHTTPRequestHandler):
    """A git smart-HTTP server that refuses every request, remembering its headers."""

    seen: ClassVar[list[str]] = []

    def log_message(self, *args: object) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        """401, as a server does for a wrong token."""
        self.seen.append(self.headers.get("authorization", ""))
        self.send_response(401)
        self.send_header("www-authenticate", 'Basic realm="git"')
        self.send_header("content-length", "0")
        self.end_headers()


def test_token_goes_in_a_header_and_a_refusal_says_so(tmp_path: Path) -> None:
    server = Recorder(Refusing)
    try:
        connector = KIND.make(GitSettings(url=f"{server.url}/org/repo.git"), {"token": "tok3n"})
        scan = Scan(known={}, state={}, folder=tmp_path, max_bytes=MB, timeout=10)
        with pytest.raises(SourceError) as error:
            list(connector.entries(scan))
    finally:
        server.stop()
    expected = base64.b64encode(b"x-access-token:tok3n").decode()
    assert Refusing.seen and Refusing.seen[0] == f"Basic {expected}"
    assert "the server refused the token: check the token" in str(error.value)
    assert "tok3n" not in str(error.value)
