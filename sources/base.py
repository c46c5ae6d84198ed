"""What a connector is: it lists what is at a source now and reads the items that changed.

The sync (sources.sync) compares each listed entry's version with the one it holds, reads only
new and changed entries, stores them as documents of the source's collection (a changed item
is re-indexed in place, under the same document id), and deletes the documents of items that
are no longer listed once a listing is complete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict


class SourceError(Exception):
    """The source as a whole cannot be read now (unreachable, wrong password, 404 start page,
    redirect loop). The message is shown on the source's row, so write it for a person: say
    what failed and what to check. Nothing is changed by a sync that ends in it."""


class ItemError(Exception):
    """One item cannot be read (too large, unreadable); the others go on. Shown for a person."""


@dataclass
class Entry:
    """One item at the source as listed now.

    key: the item's stable id at the source (URL, path, "<uidvalidity>:<uid>", thread ts).
    version: changes whenever the item's content changes (ETag, Last-Modified + size, blob
        sha, latest reply ts); the same version means the same content, so it is not read.
    label: the document's name as people see it in citations ("Page title · URL",
        "docs/guide.md", "#support: How do I … · permalink").
    parse_as: the extension the parser reads the content as (".html", ".md", ".eml", ".pdf").
    read: returns the content; raises ItemError for this item alone (SourceError when the
        source went away). Called only for new and changed entries.
    size: the content's size when known before reading (an item over the limit is refused
        unread).
    """

    key: str
    version: str
    label: str
    parse_as: str
    read: Callable[[], bytes]
    size: int | None = None


@dataclass
class Scan:
    """What a connector gets for one listing, and how it reports back.

    known: key → version of every item gptu holds from this source (for conditional requests,
        e.g. If-None-Match with the known ETag).
    state: the connector's own cursor from the last complete sync (e.g. the last commit, the
        IMAP UIDVALIDITY, links of unchanged pages); change it in place, it is kept when the
        sync completes.
    folder: a private folder for this source (a git clone lives here), kept between syncs.
    max_bytes: the largest item accepted; read() raises ItemError above it.
    timeout: seconds for one network request.
    complete: set False when the listing stopped early (a page limit, an error part-way), so
        that items not listed this time are kept rather than deleted.
    """

    known: Mapping[str, str]
    state: dict[str, Any]
    folder: Path
    max_bytes: int
    timeout: float = 30.0
    complete: bool = True
    notes: list[str] = field(default_factory=list)  # said on the source's row (e.g. limits hit)


class Connector(Protocol):
    """Lists one source."""

    def entries(self, scan: Scan) -> Iterator[Entry]:
        """Every item at the source now (unchanged ones too, so that deletions are seen),
        lazily. Raises SourceError when the source cannot be listed at all."""
        ...


class Settings(BaseModel):
    """A kind's settings (not secret), as given to `gptu sources add` and POST /v1/sources;
    unknown fields are refused so that a typo is an error, not a silently ignored option."""

    model_config = ConfigDict(extra="forbid")

    def reads_server_disk(self) -> bool:
        """Whether these settings read the server's own disk (then only an admin may use
        them: they reach whatever the worker can read)."""
        return False


@dataclass(frozen=True)
class Kind:
    """A kind of source: its settings model, the names of its secrets (stored encrypted,
    never shown), and how a connector is made from settings and secrets."""

    name: str
    summary: str
    settings: type[Settings]
    secrets: tuple[str, ...]
    make: Callable[[Any, Mapping[str, str]], Connector]
    admin_only: bool = False  # a kind that reads the server's own disk (folder)


def bounded(read: Callable[[int], bytes], limit: int, label: str) -> bytes:
    """Read at most limit bytes with read(n); ItemError when there is more."""
    data = read(limit + 1)
    if len(data) > limit:
        raise ItemError(too_big(label, None, limit))
    return data


def too_big(label: str, size: int | None, limit: int) -> str:
    """The reason an item over the size limit is refused."""
    shown = f"is {size / 1e6:.1f} MB" if size is not None else "is larger than that"
    return f"{label} {shown}; the limit is {limit / 1e6:g} MB (GPTU_MAX_UPLOAD_MB)"
