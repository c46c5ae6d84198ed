"""Sources benchmark: what a sync costs the first time and when little or nothing changed.

In one run, against real servers on 127.0.0.1 (the tests' sites, tests/sources/site_*.py):
(a) a web site of N pages (Python's HTTP server with ETags): the first listing reads every
    page; the second, with what gptu holds, is answered 304 page by page; after one page
    changes, exactly one version differs. Pages/s and seconds per listing.
(b) an IMAP mailbox of M messages (Dovecot): the first listing (the newest `max_messages`,
    each message's structure fetched once) and reading them; the second listing, with what
    gptu holds (UID SEARCH only). Messages/s and seconds per listing.
The connectors run as a sync runs them (sources.base.Scan); the engine's own work (files,
SQL, queueing) is measured end to end by the tests, not here.

Run: `.venv/bin/python bench/sources.py [--pages 300] [--messages 20000] [--max-messages 2000]`.
"""

from __future__ import annotations

import argparse
import imaplib
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sources.base import Scan
from sources.kinds import kind
from tests.sources import site_imap, site_web

LIMIT = 50 << 20


def listing(kind_name: str, site: Any, scan: Scan, read: bool, **extra: Any) -> dict[str, Any]:
    """List a site once (reading entries whose version is new); what it took."""
    found = kind(kind_name)
    connector = found.make(found.settings.model_validate({**site.settings(), **extra}),
                           site.secrets())  # fmt: skip
    started = time.perf_counter()
    versions: dict[str, str] = {}
    read_bytes = 0
    for entry in connector.entries(scan):
        versions[entry.key] = entry.version
        if read and scan.known.get(entry.key) != entry.version:
            read_bytes += len(entry.read())
    seconds = time.perf_counter() - started
    close = getattr(connector, "close", None)
    if close:
        close()
    return {"versions": versions, "seconds": seconds, "bytes": read_bytes}


def web(pages: int, folder: Path) -> None:
    """(a): first listing, unchanged listing, one page changed."""
    site = site_web.start(folder)
    try:
        for n in range(pages):
            site.texts[f"p{n:04d}"] = f"Page {n} of the handbook says rule {n} applies."
        site.render()
        scan = Scan(known={}, state={}, folder=folder, max_bytes=LIMIT)
        first = listing("web", site, scan, True, max_pages=pages + 10)
        hits_before = len(site.requested("/docs/"))
        known = dict(first["versions"])
        again = Scan(known=known, state=scan.state, folder=folder, max_bytes=LIMIT)
        second = listing("web", site, again, True, max_pages=pages + 10)
        hits = site.requested("/docs/")[hits_before:]
        site.write("p0001", "Page 1 of the handbook now says rule one is withdrawn.")
        third_scan = Scan(known=known, state=again.state, folder=folder, max_bytes=LIMIT)
        third = listing("web", site, third_scan, True, max_pages=pages + 10)
        changed = [k for k, v in third["versions"].items() if known.get(k) != v]
        n = len(first["versions"])
        print(f"web: {n} pages; first listing {first['seconds']:.2f} s ({n / first['seconds']:.0f} "
              f"pages/s, {first['bytes'] / 1e6:.1f} MB); unchanged listing "
              f"{second['seconds']:.2f} s ({sum(h.status == 304 for h in hits)} answered 304, "
              f"{sum(h.status == 200 for h in hits)} 200); one page changed: listing "
              f"{third['seconds']:.2f} s, {len(changed)} version(s) differ")  # fmt: skip
    finally:
        site.stop()


def imap(messages: int, max_messages: int, folder: Path) -> None:
    """(b): a mailbox of `messages`; the newest max_messages listed, read, listed again."""
    site = site_imap.start(folder)
    try:
        started = time.perf_counter()
        client = imaplib.IMAP4("127.0.0.1", site.port, timeout=30)
        client.login(site_imap.USER, site.password)
        for n in range(messages):
            message = EmailMessage()
            message["From"] = "Customer <customer@example.org>"
            message["Subject"] = f"Question {n}"
            message.set_content(f"Ticket {n}: my printer on floor {n % 9} prints blank pages.")
            client.append("INBOX", None, None, message.as_bytes())
        client.logout()
        filled = time.perf_counter() - started
        scan = Scan(known={}, state={}, folder=folder / "cache", max_bytes=LIMIT)
        scan.folder.mkdir()
        first = listing("imap", site, scan, False, max_messages=max_messages)
        found = kind("imap")
        connector = found.make(found.settings.model_validate(
            {**site.settings(), "max_messages": max_messages}), site.secrets())  # fmt: skip
        read_scan = Scan(known={}, state={}, folder=scan.folder, max_bytes=LIMIT)
        started = time.perf_counter()
        total = sum(len(entry.read()) for entry in connector.entries(read_scan))
        reading = time.perf_counter() - started
        getattr(connector, "close", lambda: None)()
        known = dict(first["versions"])
        again = Scan(known=known, state=scan.state, folder=scan.folder, max_bytes=LIMIT)
        second = listing("imap", site, again, False, max_messages=max_messages)
        n = len(first["versions"])
        print(f"imap: {messages} messages appended in {filled:.1f} s; first listing of the "
              f"newest {max_messages}: {first['seconds']:.2f} s ({n} entries, complete "
              f"{scan.complete}); reading them {reading:.2f} s ({n / reading:.0f} messages/s, "
              f"{total / 1e6:.1f} MB); listing again with what gptu holds "
              f"{second['seconds']:.2f} s")  # fmt: skip
    finally:
        site.stop()


def main() -> None:
    """Run (a) and (b)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--max-messages", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "web").mkdir()
        (Path(tmp) / "imap").mkdir()
        web(args.pages, Path(tmp) / "web")
        imap(args.messages, args.max_messages, Path(tmp) / "imap")


if __name__ == "__main__":
    main()
