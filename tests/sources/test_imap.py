"""The IMAP connector against a real Dovecot: what it lists and reads, what a second listing
costs, and the errors a person sees."""

from __future__ import annotations

import os
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest

from sources.base import Entry, ItemError, Scan, SourceError
from sources.imap import KIND, ImapConnector, ImapSettings
from sources.imaplink import utf7
from tests.sources.site_imap import ImapSite, free_port, start

PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[ImapSite]:
    """A running Dovecot with an empty mailbox, stopped after the test."""
    running = start(tmp_path)
    yield running
    running.stop()


def connector(site: ImapSite, **changes: Any) -> ImapConnector:
    """A connector for the site's mailbox, settings changed as given."""
    settings = KIND.settings(**{**site.settings(), **changes})
    made = KIND.make(settings, site.secrets())
    assert isinstance(made, ImapConnector)
    return made


def listing(made: ImapConnector, scan: Scan) -> dict[str, Entry]:
    """Every entry of one listing by key; the connection closed after it."""
    try:
        return {entry.key: entry for entry in made.entries(scan)}
    finally:
        made.close()


def new_scan(folder: Path, known: dict[str, str] | None = None, max_bytes: int = 10**6) -> Scan:
    """A Scan as the sync makes one."""
    return Scan(known=known or {}, state={}, folder=folder, max_bytes=max_bytes, timeout=10)


def invoice(pdf: bytes = PDF) -> EmailMessage:
    """A message with text, a PDF, a zip and an inline logo, subject and file name non-ASCII."""
    message = EmailMessage()
    message["From"] = "Ada Lovelace <ada@example.org>"
    message["To"] = "support@example.org"
    message["Subject"] = "Réclamation facture"
    message["Date"] = formatdate(1_700_000_000)
    message.set_content("Bonjour, the invoice total is wrong.")
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename="Rechnung €.pdf")
    message.add_attachment(
        b"PK\x05\x06" + bytes(18), maintype="application", subtype="zip", filename="logs.zip"
    )
    message.add_attachment(
        b"\x89PNG\r\n\x1a\n",
        maintype="image",
        subtype="png",
        disposition="inline",
        filename="logo.png",
    )
    return message


def test_lists_message_and_its_pdf_as_separate_documents(site: ImapSite, tmp_path: Path) -> None:
    site.append(invoice())
    scan = new_scan(tmp_path)
    made = connector(site)
    entries = {entry.key: entry for entry in made.entries(scan)}
    validity = scan.state["uidvalidity"]["INBOX"]
    message, pdf = entries[f"INBOX/{validity}/1"], entries[f"INBOX/{validity}/1/1"]
    assert sorted(entries) == [message.key, pdf.key]  # no zip, no inline logo
    assert message.label == "Réclamation facture — Ada Lovelace, 2023-11-14"
    assert message.parse_as == ".eml"
    assert (pdf.label, pdf.parse_as) == ("Réclamation facture / Rechnung €.pdf", ".pdf")
    assert pdf.size is not None and len(PDF) - 6 <= pdf.size <= len(PDF)
    assert pdf.read() == PDF
    text = message.read()
    assert b"the invoice total is wrong." in text and b"Subject:" in text
    assert b"%PDF" not in text and b"JVBER" not in text  # the attachments left out
    made.close()
    assert scan.complete
    assert scan.notes == ["skipped 1 attachment gptu cannot read (.zip)"]


def test_second_listing_fetches_nothing(site: ImapSite, tmp_path: Path) -> None:
    site.append(invoice())
    site.write("alpha", "The alpha text.")
    first = listing(connector(site), new_scan(tmp_path))
    site.forget_commands()
    known = {key: entry.version for key, entry in first.items()}
    second = listing(connector(site), new_scan(tmp_path, known))
    assert {key: entry.version for key, entry in second.items()} == known
    assert [entry.label for entry in second.values()] == [e.label for e in first.values()]
    commands = site.commands()
    assert commands == ['EXAMINE "INBOX"', "UID SEARCH ALL", "LOGOUT"]
    listing(connector(site), new_scan(tmp_path / "no-cache", known))
    assert any("FETCH" in command for command in site.commands())  # a cold cache does fetch


def test_change_is_a_new_key_and_delete_is_gone(site: ImapSite, tmp_path: Path) -> None:
    site.write("alpha", "The alpha text, version one.")
    site.write("bravo", "The bravo text.")
    before = listing(connector(site), new_scan(tmp_path))
    site.write("alpha", "The alpha text, version two.")
    site.remove("bravo")
    after = listing(connector(site), new_scan(tmp_path, {k: e.version for k, e in before.items()}))
    assert len(before) == 2 and len(after) == 1
    (new_key,) = set(after) - set(before)
    assert not set(after) & set(before)
    made = connector(site)
    entry = {e.key: e for e in made.entries(new_scan(tmp_path))}[new_key]
    assert entry.label.startswith("alpha — Customer")
    assert b"The alpha text, version two." in entry.read()
    made.close()


def test_listing_and_reading_mark_nothing_seen(site: ImapSite, tmp_path: Path) -> None:
    site.append(invoice())
    site.write("alpha", "The alpha text.")
    made = connector(site)
    for entry in made.entries(new_scan(tmp_path)):
        entry.read()
    made.close()
    assert site.seen() == 0


def test_newest_messages_only_past_max_messages(site: ImapSite, tmp_path: Path) -> None:
    for name in ("one", "two", "three", "four", "five"):
        site.write(name, f"Message {name}.")
    scan = new_scan(tmp_path)
    entries = listing(connector(site, max_messages=3), scan)
    assert [entry.label.split(" — ")[0] for entry in entries.values()] == ["three", "four", "five"]
    assert scan.complete is False
    assert scan.notes == ["listed the newest 3 of 5 messages in INBOX"]


def test_attachment_over_the_limit_is_refused(site: ImapSite, tmp_path: Path) -> None:
    big = PDF + os.urandom(300_000)
    site.append(invoice(big))
    made = connector(site)
    entries = {e.key: e for e in made.entries(new_scan(tmp_path, max_bytes=200_000))}
    (pdf,) = [entry for entry in entries.values() if entry.parse_as == ".pdf"]
    assert pdf.size is not None and len(big) - 100 < pdf.size <= len(big)
    with pytest.raises(ItemError, match=r"Rechnung €.pdf is 0\.3 MB; the limit is 0\.2 MB"):
        pdf.read()
    (message,) = [entry for entry in entries.values() if entry.parse_as == ".eml"]
    assert b"the invoice total is wrong." in message.read()
    made.close()


def test_folders_by_their_non_ascii_names(site: ImapSite, tmp_path: Path) -> None:
    assert utf7("~peter/mail/台北/日本語") == "~peter/mail/&U,BTFw-/&ZeVnLIqe-"  # RFC 3501
    with site.client() as client:
        assert client.create('"&AMk-quipe"')[0] == "OK"  # "Équipe", encoded by hand
    site.write("alpha", "In the inbox.")
    site.append(invoice(), folder='"&AMk-quipe"')
    entries = listing(connector(site, folders=["INBOX", "Équipe"]), new_scan(tmp_path))
    assert sorted(key.split("/")[0] for key in entries) == ["INBOX", "Équipe", "Équipe"]


def test_wrong_password_is_said_without_the_password(site: ImapSite, tmp_path: Path) -> None:
    made = KIND.make(KIND.settings(**site.settings()), {"password": "wrong-Secret-42"})
    with pytest.raises(SourceError) as caught:
        next(iter(made.entries(new_scan(tmp_path))))
    message = str(caught.value)
    assert "refused the password for user support: check it" in message
    assert "wrong-Secret-42" not in message and site.password not in message


def test_missing_folder_is_named_before_anything_is_listed(site: ImapSite, tmp_path: Path) -> None:
    site.write("alpha", "In the inbox.")
    made = connector(site, folders=["INBOX", "Archive"])
    with pytest.raises(SourceError, match='has no folder "Archive" for user support'):
        next(iter(made.entries(new_scan(tmp_path))))
    made.close()


def test_unreachable_server(tmp_path: Path) -> None:
    port = free_port()
    settings = ImapSettings(host="127.0.0.1", port=port, security="none", username="support")
    made = KIND.make(settings, {"password": "x"})
    with pytest.raises(SourceError, match=f"cannot reach the IMAP server 127.0.0.1:{port}: "):
        next(iter(made.entries(new_scan(tmp_path))))


@pytest.mark.parametrize(
    ("security", "said"),
    [
        ("ssl", "the TLS handshake with the IMAP server .* failed"),
        ("starttls", "could not start TLS with the IMAP server"),
    ],
)
def test_tls_against_a_plain_server(
    site: ImapSite, tmp_path: Path, security: str, said: str
) -> None:
    made = connector(site, security=security)
    with pytest.raises(SourceError, match=said):
        next(iter(made.entries(new_scan(tmp_path))))


def test_settings_refuse_unknown_fields() -> None:
    with pytest.raises(ValueError, match="folder"):
        KIND.settings.model_validate({"host": "h", "username": "u", "folder": "INBOX"})
