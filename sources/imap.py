"""An IMAP mailbox (a shared support inbox): each message is a document (its text as an .eml,
without its attachments) and each attachment gptu can read is a document of its own.

IMAP messages never change (a changed message is a new UID), so an item's key
"<folder>/<uidvalidity>/<uid>[/<n>]" is also its version. What a message holds (subject, sender,
text parts, attachments) is fetched once per UID from its BODYSTRUCTURE and kept in a cache file
in the source's private folder, so listing known messages costs one UID SEARCH per folder and
no FETCH. Folders are opened read-only (EXAMINE) and read with BODY.PEEK: nothing is marked
\\Seen. The parts: imaplink (the connection), imapmessage (a message's record, its .eml and
attachments), imapparse (imaplib's answers parsed).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, TypeAlias

from pydantic import Field

from ingest.parse import extension, is_supported
from sources.base import Entry, ItemError, Kind, Scan, Settings, too_big
from sources.imaplink import Link
from sources.imapmessage import decode_part, decoded_size, describe, rebuild_eml
from sources.imapparse import as_bytes, as_text

FETCH_BATCH = 200
META_ITEMS = "(UID BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (SUBJECT FROM DATE)])"
CACHE_NAME = "imap-messages.json"
CACHE_VERSION = 1
# An attachment: folder, UIDVALIDITY, UID, section, transfer encoding, encoded size.
_Part: TypeAlias = "tuple[str, int, int, str, str, int]"


class ImapSettings(Settings):
    """Where the mailbox is and which folders to read."""

    host: str = Field(description="the IMAP server's host name")
    port: int = Field(993, ge=1, le=65535, description="993 for ssl, 143 for starttls/none")
    security: Literal["ssl", "starttls", "none"] = Field(
        "ssl", description="ssl (port 993), starttls or none (143; a trusted network only)"
    )
    username: str = Field(description="the mailbox's user name")
    folders: list[str] = Field(
        default_factory=lambda: ["INBOX"], min_length=1, description="the folders read"
    )
    max_messages: int = Field(2000, ge=1, description="the newest messages listed per folder")


class ImapConnector:
    """Lists the messages of a mailbox's folders and their readable attachments."""

    def __init__(self, settings: ImapSettings, secrets: Mapping[str, str]) -> None:
        self.settings = settings
        self._link = Link(settings, secrets.get("password", ""))
        weakref.finalize(self, self._link.drop)

    def close(self) -> None:
        """Log out (reads after the listing reuse its connection, so it stays open till now)."""
        self._link.logout()

    def entries(self, scan: Scan) -> Iterator[Entry]:
        """Every listed message, then its attachments; SourceError before the first entry when
        the server, the password or a folder is wrong."""
        self._link.timeout = scan.timeout
        folders = {name: self._link.search(name) for name in self.settings.folders}
        scan.state["uidvalidity"] = {name: found[0] for name, found in folders.items()}
        cache = _Cache(scan.folder, list(folders))
        skipped: list[str] = []
        for name, (validity, uids) in folders.items():
            listed = uids[-self.settings.max_messages :]
            if len(listed) < len(uids):
                scan.complete = False
                scan.notes.append(
                    f"listed the newest {len(listed):,} of {len(uids):,} messages in {name}"
                )
            records = self._records(name, validity, listed, cache)
            for uid in listed:
                if str(uid) in records:
                    yield from self._message(name, validity, uid, records[str(uid)], scan, skipped)
        if skipped:
            kinds = ", ".join(sorted(set(skipped)))
            count = f"{len(skipped)} attachment" + ("s" if len(skipped) > 1 else "")
            scan.notes.append(f"skipped {count} gptu cannot read ({kinds})")

    def _records(
        self, folder: str, validity: int, uids: list[int], cache: _Cache
    ) -> dict[str, Any]:
        """What each listed message holds: from the cache, fetching only the UIDs it lacks."""
        records = cache.records(folder, validity)
        missing = [uid for uid in uids if str(uid) not in records]
        for start in range(0, len(missing), FETCH_BATCH):
            batch = missing[start : start + FETCH_BATCH]
            for fields in self._link.fetch(folder, validity, batch, META_ITEMS):
                if "UID" in fields and isinstance(fields.get("BODYSTRUCTURE"), list):
                    records[as_text(fields["UID"])] = describe(fields)
        keep = {str(uid) for uid in uids}
        for uid in [uid for uid in records if uid not in keep]:
            del records[uid]
        cache.save()
        return records

    def _message(
        self,
        folder: str,
        validity: int,
        uid: int,
        record: dict[str, Any],
        scan: Scan,
        skipped: list[str],
    ) -> Iterator[Entry]:
        """The entries of one message: its text, then each attachment gptu can read."""
        key = f"{folder}/{validity}/{uid}"
        texts: list[list[Any]] = record["texts"]
        yield Entry(
            key=key,
            version=key,
            label=record["label"],
            parse_as=".eml",
            read=lambda: self._read_text(folder, validity, uid, record, scan.max_bytes),
            size=sum(int(text[4]) for text in texts),
        )
        for number, section, filename, encoding, size in record["files"]:
            if not is_supported(filename):
                skipped.append(extension(filename) or "no extension")
                continue
            label = f"{record['subject']} / {filename}"
            part = (folder, validity, uid, section, encoding, int(size))
            yield Entry(
                key=f"{key}/{number}",
                version=f"{key}/{number}",
                label=label,
                parse_as=extension(filename),
                read=functools.partial(self._read_file, part, label, scan.max_bytes),
                size=decoded_size(encoding, int(size)),
            )

    def _read_text(
        self, folder: str, validity: int, uid: int, record: dict[str, Any], limit: int
    ) -> bytes:
        """The message as an .eml of its header and text parts (its attachments left out)."""
        texts: list[list[Any]] = record["texts"]
        sections = [str(text[0]) for text in texts]
        items = " ".join(["BODY.PEEK[HEADER]", *(f"BODY.PEEK[{s}]" for s in sections)])
        fields = self._link.fetch_one(folder, validity, uid, f"({items})")
        bodies = [as_bytes(fields.get(f"BODY[{s}]")) for s in sections]
        data = rebuild_eml(as_bytes(fields.get("BODY[HEADER]")), texts, bodies)
        if len(data) > limit:
            raise ItemError(too_big(record["label"], len(data), limit))
        return data

    def _read_file(self, part: _Part, label: str, limit: int) -> bytes:
        """One attachment's bytes, decoded; ItemError (unread when its size says so) over limit."""
        folder, validity, uid, section, encoding, size = part
        if decoded_size(encoding, size) > limit:
            raise ItemError(too_big(label, decoded_size(encoding, size), limit))
        fields = self._link.fetch_one(folder, validity, uid, f"(BODY.PEEK[{section}])")
        data = decode_part(encoding, as_bytes(fields.get(f"BODY[{section}]")), label)
        if len(data) > limit:
            raise ItemError(too_big(label, len(data), limit))
        return data


class _Cache:
    """What each listed message holds (labels, parts), kept in the source's private folder
    between syncs, complete or not: a message under a UID never changes."""

    def __init__(self, folder: Path, folders: list[str]) -> None:
        self.path = folder / CACHE_NAME
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            data = {}
        if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
            data = {"version": CACHE_VERSION, "folders": {}}
        self.data = data
        self.folders: dict[str, Any] = {
            name: slot for name, slot in data["folders"].items() if name in folders
        }
        data["folders"] = self.folders

    def records(self, folder: str, validity: int) -> dict[str, Any]:
        """The folder's records by UID (emptied when its UIDVALIDITY changed)."""
        slot = self.folders.get(folder)
        if not isinstance(slot, dict) or slot.get("uidvalidity") != validity:
            slot = self.folders[folder] = {"uidvalidity": validity, "messages": {}}
        messages: dict[str, Any] = slot["messages"]
        return messages

    def save(self) -> None:
        """Write the cache (atomically; a cache that cannot be written only costs FETCHes)."""
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_text(json.dumps(self.data))
            os.replace(temporary, self.path)


KIND = Kind(
    name="imap",
    summary="An IMAP mailbox: each message and each readable attachment becomes a document",
    settings=ImapSettings,
    secrets=("password",),
    make=lambda settings, secrets: ImapConnector(settings, secrets),
)
