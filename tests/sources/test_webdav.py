"""The webdav source against a real WebDAV server (WsgiDAV): what it lists, reads and refuses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydantic
import pytest

from sources.base import Entry, ItemError, Scan, SourceError
from sources.webdav import KIND, WebDavSettings
from tests.sources.site_webdav import WebDavSite, free_port, start


@pytest.fixture
def site(tmp_path: Path) -> Iterator[WebDavSite]:
    """A WebDAV server with an empty /team/ folder, for one test."""
    server = start(tmp_path)
    try:
        yield server
    finally:
        server.stop()


def listing(
    site: WebDavSite,
    known: dict[str, str] | None = None,
    max_bytes: int = 1_000_000,
    secrets: dict[str, str] | None = None,
    **settings: Any,
) -> tuple[dict[str, Entry], Scan]:
    """List the site's folder once: the entries by key, and the scan they reported into."""
    chosen = {**site.settings(), **settings}
    connector = KIND.make(WebDavSettings(**chosen), site.secrets() if secrets is None else secrets)
    scan = Scan(known=known or {}, state={}, folder=site.root.parent, max_bytes=max_bytes)
    entries = {entry.key: entry for entry in connector.entries(scan)}
    return entries, scan


def versions(site: WebDavSite) -> dict[str, str]:
    """key → version of everything listed now."""
    return {key: entry.version for key, entry in listing(site)[0].items()}


def test_lists_nested_folders_by_decoded_path_and_skips_hidden(site: WebDavSite) -> None:
    site.write("alpha", "The alpha page.")
    site.put("plans/2024/Budget ü Q1.md", b"# Budget\n")
    site.put("plans/notes.txt", b"plain")
    site.put(".hidden.md", b"secret")
    site.put(".archive/old.md", b"old")
    entries, scan = listing(site)
    assert sorted(entries) == ["alpha.md", "plans/2024/Budget ü Q1.md", "plans/notes.txt"]
    budget = entries["plans/2024/Budget ü Q1.md"]
    assert (budget.label, budget.parse_as, budget.size) == (budget.key, ".md", 9)
    assert entries["plans/notes.txt"].parse_as == ".txt"
    assert (scan.complete, scan.notes) == (True, [])


def test_versions_are_stable_and_change_exactly_with_content(site: WebDavSite) -> None:
    for name in ("alpha", "bravo", "charlie"):
        site.write(name, f"The {name} page, version one.")
    first = versions(site)
    again, scan = listing(site, known=first)
    assert {key: entry.version for key, entry in again.items()} == first
    assert scan.complete
    assert site.requests("GET") == 0  # listing reads nothing; unchanged items are never read
    site.write("alpha", "The alpha page, version two.")  # same size, same second
    changed = versions(site)
    assert sorted(changed) == sorted(first)
    assert [key for key in first if first[key] != changed[key]] == ["alpha.md"]
    site.remove("bravo")
    assert sorted(versions(site)) == ["alpha.md", "charlie.md"]


def test_read_returns_the_files_bytes(site: WebDavSite) -> None:
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 4
    site.put("reports/q1.pdf", pdf)
    site.write("alpha", "The alpha page.")
    entries, _ = listing(site)
    assert entries["reports/q1.pdf"].parse_as == ".pdf"
    assert entries["reports/q1.pdf"].read() == pdf
    assert entries["alpha.md"].read() == b"# Alpha\n\nThe alpha page.\n"
    assert site.requests("GET") == 2


def test_a_file_gone_since_the_listing_is_an_item_error(site: WebDavSite) -> None:
    site.write("alpha", "The alpha page.")
    entries, _ = listing(site)
    site.remove("alpha")
    with pytest.raises(ItemError, match=r"alpha\.md is no longer on the WebDAV server"):
        entries["alpha.md"].read()


def test_files_gptu_cannot_read_are_skipped_with_a_note(site: WebDavSite) -> None:
    site.write("alpha", "The alpha page.")
    site.put("tools/setup.exe", b"MZ")
    site.put("archive.zip", b"PK")
    entries, scan = listing(site)
    assert sorted(entries) == ["alpha.md"]
    assert scan.complete
    assert len(scan.notes) == 1
    assert "skipped 2 files" in scan.notes[0]
    assert ".exe" in scan.notes[0] and ".zip" in scan.notes[0]


def test_extensions_chooses_what_is_taken(site: WebDavSite) -> None:
    site.write("alpha", "The alpha page.")
    site.put("q1.PDF", b"%PDF-1.4")
    entries, scan = listing(site, extensions=["pdf"])
    assert sorted(entries) == ["q1.PDF"]
    assert entries["q1.PDF"].parse_as == ".pdf"
    assert scan.notes == ["skipped 1 file of kinds gptu does not take (.md)"]


def test_a_wrong_password_is_a_source_error_that_does_not_show_it(site: WebDavSite) -> None:
    wrong = "hunter2-not-it"
    with pytest.raises(SourceError) as refused:
        listing(site, secrets={"password": wrong})
    message = str(refused.value)
    assert "refused the user alice's password: check it" in message
    assert wrong not in message and site.password not in message


def test_no_user_on_a_server_that_asks_for_one_is_a_source_error(site: WebDavSite) -> None:
    with pytest.raises(SourceError, match="asks for a user name and password"):
        listing(site, secrets={}, username="")


def test_an_unreachable_server_is_a_source_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/team/"
    connector = KIND.make(WebDavSettings(url=url), {})
    scan = Scan(known={}, state={}, folder=Path("."), max_bytes=1000, timeout=5)
    with pytest.raises(SourceError, match=f"cannot reach the WebDAV server at {url}"):
        list(connector.entries(scan))


def test_a_missing_folder_is_a_source_error(site: WebDavSite) -> None:
    with pytest.raises(SourceError, match=r"there is no folder at .*/nowhere/ on the WebDAV"):
        listing(site, url=site.base + "/nowhere/")


def test_a_file_url_is_a_source_error(site: WebDavSite) -> None:
    site.write("alpha", "The alpha page.")
    with pytest.raises(SourceError, match=r"alpha\.md is a file, not a folder"):
        listing(site, url=site.base + "/team/alpha.md")


def test_a_file_over_max_bytes_is_refused_and_its_size_known_unread(site: WebDavSite) -> None:
    site.put("big.md", b"x" * 5000)
    site.put("fits.md", b"y" * 1000)
    entries, _ = listing(site, max_bytes=1000)
    assert entries["big.md"].size == 5000
    assert entries["fits.md"].read() == b"y" * 1000
    with pytest.raises(ItemError, match=r"big\.md is 0\.0 MB; the limit is 0\.001 MB"):
        entries["big.md"].read()


def test_max_files_cuts_the_listing_and_marks_it_incomplete(site: WebDavSite) -> None:
    for name in ("alpha", "bravo", "charlie"):
        site.write(name, f"The {name} page.")
    entries, scan = listing(site, max_files=2)
    assert sorted(entries) == ["alpha.md", "bravo.md"]
    assert scan.complete is False
    assert any("max_files" in note for note in scan.notes)
    entries, scan = listing(site, max_files=3)
    assert len(entries) == 3
    assert (scan.complete, scan.notes) == (True, [])
    for folder in ("empty1", "empty2", "empty3"):
        (site.team / folder).mkdir()
    entries, scan = listing(site, max_files=3)
    assert len(entries) == 3
    assert scan.complete is False
    assert scan.notes == [
        "stopped at more than 3 folders (max_files); the files after that were not looked at"
    ]


def test_a_subfolder_that_fails_to_list_marks_the_listing_incomplete(site: WebDavSite) -> None:
    site.write("alpha", "The alpha page.")
    site.put("broken/inside.md", b"kept")
    site.put("broken/.fail", b"")  # the test server answers 500 for this folder
    site.put("sound/fine.md", b"fine")
    entries, scan = listing(site)
    assert sorted(entries) == ["alpha.md", "sound/fine.md"]
    assert scan.complete is False
    assert scan.notes == [
        "could not list 1 folder(s): broken (HTTP 500); their files are kept as before"
    ]


def test_settings_refuse_a_password_in_the_url_and_unknown_fields() -> None:
    with pytest.raises(pydantic.ValidationError, match="password secret"):
        WebDavSettings(url="https://alice:pw@cloud.example.org/team/")
    with pytest.raises(pydantic.ValidationError):
        WebDavSettings.model_validate({"url": "https://cloud.example.org/team/", "passwd": "x"})
    with pytest.raises(pydantic.ValidationError, match="http"):
        WebDavSettings(url="ftp://cloud.example.org/team/")
