"""Real servers that the sources tests sync from, one module per kind, behind one interface.

Each kind's module (tests/sources/site_<kind>.py) has `start(tmp: Path) -> Site`: it starts a
real server of that kind on 127.0.0.1 and a free port (or makes a local repository), empty.
The shared end-to-end test (tests/integration/test_sources.py) adds a gptu source with the
site's settings and secrets, writes items, syncs, searches, changes and removes items, and
syncs again.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Protocol

KINDS = ("web", "webdav", "imap", "git", "slack", "folder")


class Site(Protocol):
    """A real server holding items that a gptu source of `kind` reads."""

    kind: str

    def settings(self) -> dict[str, Any]:
        """The gptu source's settings for this server (see the kind's Settings model)."""
        ...

    def secrets(self) -> dict[str, str]:
        """The source's secrets (password, token); {} when it needs none."""
        ...

    def write(self, name: str, text: str) -> None:
        """Create item `name` (a short lower-case word), or change it when it exists, so
        that the content gptu indexes holds `text` verbatim as one paragraph."""
        ...

    def remove(self, name: str) -> None:
        """Delete item `name` at the source."""
        ...

    def stop(self) -> None:
        """Stop the server (and remove what it made)."""
        ...


def start(kind: str, tmp: Path) -> Site:
    """Start kind's site (tests/sources/site_<kind>.py)."""
    module = importlib.import_module(f"tests.sources.site_{kind}")
    site: Site = module.start(tmp)
    return site
