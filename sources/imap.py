"""An IMAP mailbox (a shared support inbox): each message is a document (its text as an .eml,
without its attachments) and each attachment gptu can read is a document of its own.

IMAP messages never change (a changed message is a new UID), so an item's key
"<folder>/<uidvalidity>/<uid>[/<n>]" is also its version. What a message holds (subject, sender,
text parts, attachments) is fetched once per UID from its BODYSTRUCTURE and kept in a cache file
in the source's private folder, so listing known messages costs one UID SEARCH per folder and
no FETCH. Folders are opened read-only (EXAMINE) and read with BODY.PEEK: nothing is marked
\\Seen.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import imaplib
import itertools
import json
import os
import quopri
import re
import socket
import ssl
import threading
import time
import urllib.parse
import weakref
from collections.abc import Iterator, Mapping
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from email.utils import decode_rfc2231, parseaddr, parsedate_to_datetime
from pathlib import Path
from typing import Any, Literal, TypeAlias

from pydantic import Field

from ingest.parse import extension, is_supported
from sources.base import Entry, ItemError, Kind, Scan, Settings, SourceError, too_big

FETCH_BATCH = 200
META_ITEMS = "(UID BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (SUBJECT FROM DATE)])"
IDLE_CHECK = 60.0  # seconds unused after which a connection is tested before use
CACHE_NAME = "imap-messages.json"
CACHE_VERSION = 1
CONTENT_HEADERS = {b"content-type", b"content-transfer-encoding", b"mime-version"}

# A parsed IMAP response: atoms as str, strings (quoted or literal) as bytes, NIL as None.
Value: TypeAlias = "str | bytes | list[Value] | None"
OPEN, CLOSE = object(), object()
_Fields: TypeAlias = "dict[str, Value]"  # one message's FETCH answer by item name
# An attachment: folder, UIDVALIDITY, UID, section, transfer encoding, encoded size.
_Part: TypeAlias = "tuple[str, int, int, str, str, int]"
TOKEN = re.compile(rb'(\()|(\))|"((?:[^"\\]|\\.)*)"|([^\s()"\[]+(?:\[[^\]]*\](?:<\d+>)?)?)')
LITERAL_MARK = re.compile(rb"\{\d+\}\s*$")


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
        self._link = _Link(settings, secrets.get("password", ""))
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
                    records[_text(fields["UID"])] = _describe(fields)
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
                size=_decoded_size(encoding, int(size)),
            )

    def _read_text(
        self, folder: str, validity: int, uid: int, record: dict[str, Any], limit: int
    ) -> bytes:
        """The message as an .eml of its header and text parts (its attachments left out)."""
        texts: list[list[Any]] = record["texts"]
        sections = [str(text[0]) for text in texts]
        items = " ".join(["BODY.PEEK[HEADER]", *(f"BODY.PEEK[{s}]" for s in sections)])
        fields = self._link.fetch_one(folder, validity, uid, f"({items})")
        bodies = [_bytes(fields.get(f"BODY[{s}]")) for s in sections]
        data = _rebuild(_bytes(fields.get("BODY[HEADER]")), texts, bodies)
        if len(data) > limit:
            raise ItemError(too_big(record["label"], len(data), limit))
        return data

    def _read_file(
        self, part: tuple[str, int, int, str, str, int], label: str, limit: int
    ) -> bytes:
        """One attachment's bytes, decoded; ItemError (unread when its size says so) over limit."""
        folder, validity, uid, section, encoding, size = part
        if _decoded_size(encoding, size) > limit:
            raise ItemError(too_big(label, _decoded_size(encoding, size), limit))
        fields = self._link.fetch_one(folder, validity, uid, f"(BODY.PEEK[{section}])")
        data = _decode(encoding, _bytes(fields.get(f"BODY[{section}]")), label)
        if len(data) > limit:
            raise ItemError(too_big(label, len(data), limit))
        return data


class _Link:
    """One IMAP connection, opened when first needed and shared by the listing and the reads."""

    def __init__(self, settings: ImapSettings, password: str) -> None:
        self.settings = settings
        self.password = password
        self.timeout = 30.0
        self.where = f"{settings.host}:{settings.port}"
        self.conn: imaplib.IMAP4 | None = None
        self.selected: tuple[str, int] | None = None
        self.used = 0.0
        self.lock = threading.Lock()

    def search(self, folder: str) -> tuple[int, list[int]]:
        """The folder's UIDVALIDITY and all its UIDs, oldest first (the folder opened afresh)."""
        with self.lock, self._talking(f"listing {folder}"):
            conn = self._ready(folder, None)
            typ, data = conn.uid("SEARCH", "ALL")
            if typ != "OK":
                raise SourceError(f"the IMAP server {self.where} could not list {folder}: {data}")
            assert self.selected is not None
            found = b" ".join(item for item in data if isinstance(item, bytes)).split()
            return self.selected[1], sorted(int(uid) for uid in found)

    def fetch(
        self, folder: str, validity: int, uids: list[int], items: str
    ) -> list[dict[str, Value]]:
        """The FETCH answers for these UIDs of the folder (as it was listed)."""
        with self.lock, self._talking(f"reading {folder}"):
            conn = self._ready(folder, validity)
            typ, data = conn.uid("FETCH", ",".join(str(uid) for uid in uids), items)
            if typ != "OK":
                raise SourceError(f"the IMAP server {self.where} could not read {folder}: {data}")
            return _fetched(data)

    def fetch_one(self, folder: str, validity: int, uid: int, items: str) -> _Fields:
        """One message's FETCH answer; ItemError when it was deleted since the listing."""
        for fields in self.fetch(folder, validity, [uid], items):
            if _text(fields.get("UID")) == str(uid):
                return fields
        raise ItemError(f"message {uid} in {folder} was deleted since the listing")

    def logout(self) -> None:
        """Say goodbye to the server and close the connection."""
        with self.lock:
            if self.conn is not None:
                with contextlib.suppress(imaplib.IMAP4.error, OSError):
                    self.conn.logout()
            self.drop()

    def drop(self) -> None:
        """Close the connection without a word (it broke, or its owner is gone)."""
        if self.conn is not None:
            with contextlib.suppress(OSError):
                self.conn.shutdown()
        self.conn, self.selected = None, None

    def _ready(self, folder: str, validity: int | None) -> imaplib.IMAP4:
        """The connection with `folder` selected read-only (again when validity is None);
        SourceError when the folder is missing or was renumbered since it was listed."""
        if self.conn is not None and time.monotonic() - self.used > IDLE_CHECK:
            try:  # a server logs out idle clients: reads may come long after the listing
                self.conn.noop()
            except (imaplib.IMAP4.error, OSError):
                self.drop()
        self.used = time.monotonic()
        if self.conn is None:
            self.conn = self._login(self._connect())
        if validity is None or self.selected is None or self.selected[0] != folder:
            self.selected = None
            typ, data = self.conn.select(_quoted(_utf7(folder)), readonly=True)
            if typ != "OK":
                raise SourceError(
                    f'the IMAP server {self.where} has no folder "{folder}" for user '
                    f"{self.settings.username} ({_said(data)}): check the folders setting"
                )
            found = self.conn.response("UIDVALIDITY")[1]
            self.selected = (folder, int(_text(found[0]) or 0) if found else 0)
        if validity is not None and self.selected[1] != validity:
            raise SourceError(f"{folder} was renumbered (a new UIDVALIDITY) while syncing: retry")
        return self.conn

    def _connect(self) -> imaplib.IMAP4:
        """A connection, encrypted as the settings say."""
        host, port, security = self.settings.host, self.settings.port, self.settings.security
        try:
            if security == "ssl":
                context = ssl.create_default_context()
                return imaplib.IMAP4_SSL(host, port, ssl_context=context, timeout=self.timeout)
            conn = imaplib.IMAP4(host, port, timeout=self.timeout)
        except ssl.SSLCertVerificationError as exc:
            raise SourceError(
                f"the IMAP server {self.where} has a certificate this machine does not trust "
                f"({exc.verify_message}): check the host name"
            ) from None
        except ssl.SSLError as exc:
            raise SourceError(
                f"the TLS handshake with the IMAP server {self.where} failed ({exc.reason}): check"
                " the port and the security setting (ssl is usually port 993, starttls 143)"
            ) from None
        except OSError as exc:
            raise SourceError(
                f"cannot reach the IMAP server {self.where}: {_reason(exc)}"
            ) from None
        except imaplib.IMAP4.error as exc:
            raise SourceError(
                f"{self.where} did not answer as an IMAP server ({exc}): check the port"
            ) from None
        if security == "starttls":
            try:
                conn.starttls(ssl.create_default_context())
            except (imaplib.IMAP4.error, OSError) as exc:
                conn.shutdown()
                raise SourceError(
                    f"could not start TLS with the IMAP server {self.where} ({exc}): check the "
                    "security setting"
                ) from None
        return conn

    def _login(self, conn: imaplib.IMAP4) -> imaplib.IMAP4:
        """The connection, logged in; SourceError (without the password) when refused."""
        user = self.settings.username
        if "LOGINDISABLED" in conn.capabilities:
            conn.shutdown()
            raise SourceError(
                f"the IMAP server {self.where} accepts no password over an unencrypted "
                "connection: set security to starttls or ssl"
            )
        try:
            if "AUTH=PLAIN" in conn.capabilities:  # takes a non-ASCII password, unlike LOGIN
                conn.authenticate("PLAIN", lambda _: f"\0{user}\0{self.password}".encode())
            else:
                conn.login(user, self.password)
        except imaplib.IMAP4.abort as exc:
            conn.shutdown()
            raise SourceError(f"the IMAP server {self.where} hung up at login ({exc})") from None
        except imaplib.IMAP4.error as exc:
            conn.shutdown()
            raise SourceError(
                f"the IMAP server {self.where} refused the password for user {user}: check it "
                f"(it said: {_said([exc.args[0] if exc.args else b''])})"
            ) from None
        return conn

    @contextlib.contextmanager
    def _talking(self, what: str) -> Iterator[None]:
        """Turn a broken connection or a refused command into a SourceError for a person."""
        try:
            yield
        except (imaplib.IMAP4.abort, OSError) as exc:
            self.drop()
            raise SourceError(
                f"the connection to the IMAP server {self.where} broke while {what}: {exc}"
            ) from None
        except imaplib.IMAP4.error as exc:
            raise SourceError(
                f"the IMAP server {self.where} refused a command while {what}: {exc}"
            ) from None


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


def _describe(fields: _Fields) -> dict[str, Any]:
    """A message's record from its FETCH answer: labels, text parts, attachments."""
    header = next((v for k, v in fields.items() if k.startswith("BODY[HEADER")), None)
    subject, label = _labels(_bytes(header))
    parts = list(_parts(fields["BODYSTRUCTURE"], ""))
    files = [part for part in parts if _is_attachment(part)]
    bodies = [part for part in parts if part not in files and part["type"] == "text/plain"]
    bodies = bodies or [p for p in parts if p not in files and p["type"] == "text/html"]
    return {
        "subject": subject,
        "label": label,
        "texts": [
            [p["section"], p["type"], p["charset"], p["encoding"], p["size"]] for p in bodies
        ],
        "files": [
            [n, p["section"], _file_name(p, n), p["encoding"], p["size"]]
            for n, p in enumerate(files, 1)
        ],
    }


def _labels(header: bytes) -> tuple[str, str]:
    """The message's subject, and its label "<Subject> — <From>, <date>"."""
    parsed = BytesHeaderParser(policy=default_policy).parsebytes(header)
    subject = " ".join(str(parsed.get("subject", "")).split()) or "(no subject)"
    name, address = parseaddr(str(parsed.get("from", "")))
    label = f"{subject} — {name or address or 'unknown sender'}"
    try:
        return subject, f"{label}, {parsedate_to_datetime(str(parsed['date'])):%Y-%m-%d}"
    except (TypeError, ValueError, KeyError):
        return subject, label


def _parts(body: Value, section: str) -> Iterator[dict[str, Any]]:
    """The leaf parts of a BODYSTRUCTURE, each with its section number ("1", "2.1")."""
    if not isinstance(body, list) or not body:
        return
    if isinstance(body[0], list):
        children = itertools.takewhile(lambda child: isinstance(child, list), body)
        for n, child in enumerate(children, 1):
            yield from _parts(child, f"{section}.{n}" if section else str(n))
        return
    if len(body) < 7:
        return
    kind = f"{_text(body[0])}/{_text(body[1])}".lower()
    params = _pairs(body[2])
    at = 9 if kind.startswith("text/") else 11 if kind == "message/rfc822" else 8
    found = body[at] if len(body) > at else None
    disposition: list[Value] = found if isinstance(found, list) and len(found) > 1 else [None, None]
    yield {
        "section": section or "1",
        "type": kind,
        "charset": params.get("charset", ""),
        "encoding": _text(body[5]).lower() or "7bit",
        "size": int(_text(body[6]) or 0),
        "disposition": _text(disposition[0]).lower(),
        "filename": _filename(_pairs(disposition[1]), "filename") or _filename(params, "name"),
    }


def _is_attachment(part: dict[str, Any]) -> bool:
    """Whether a part is an attachment (an inline picture without one is decoration)."""
    if part["disposition"] == "attachment" or part["type"] == "message/rfc822":
        return True
    return bool(part["filename"]) and not part["type"].startswith("image/")


def _file_name(part: dict[str, Any], number: int) -> str:
    """An attachment's file name, made up from its type when it has none."""
    if part["filename"]:
        return str(part["filename"]).replace("/", "_")
    if part["type"] == "message/rfc822":
        return f"attachment {number}.eml"
    return f"attachment {number}"


def _filename(params: dict[str, str], base: str) -> str:
    """A file name parameter, decoded (RFC 2231 "name*", continuations, or =?..?= words)."""
    if base in params:
        return str(make_header(decode_header(params[base])))
    pieces = sorted(
        (int(key[len(base) + 1 :].rstrip("*") or 0), key)
        for key in params
        if re.fullmatch(rf"{base}\*(\d+\*?)?", key)
    )
    if not pieces:
        return ""
    raw = "".join(params[key] for _, key in pieces)
    if not pieces[0][1].endswith("*"):
        return raw
    charset, _, text = decode_rfc2231(raw) if "'" in raw else (None, None, raw)
    return urllib.parse.unquote(text, encoding=charset or "utf-8", errors="replace")


def _rebuild(header: bytes, texts: list[list[Any]], bodies: list[bytes]) -> bytes:
    """An .eml of the message's header and its text parts only."""
    lines, keep = [], True
    for line in header.splitlines():
        if line[:1] not in (b" ", b"\t"):
            keep = bool(line.strip()) and line.split(b":")[0].strip().lower() not in CONTENT_HEADERS
        if keep:
            lines.append(line + b"\r\n")
    head = b"".join(lines) + b"MIME-Version: 1.0\r\n"
    if not texts:
        return head + b'Content-Type: text/plain; charset="utf-8"\r\n\r\n'
    if len(texts) == 1:
        return head + _part_head(texts[0]) + b"\r\n" + bodies[0]
    boundary = b"gptu-" + hashlib.sha256(b"".join(bodies)).hexdigest()[:32].encode()
    out = [head, b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n']
    for text, body in zip(texts, bodies, strict=True):
        out += [b"--" + boundary + b"\r\n", _part_head(text), b"\r\n", body, b"\r\n"]
    return b"".join([*out, b"--" + boundary + b"--\r\n"])


def _part_head(text: list[Any]) -> bytes:
    """A text part's MIME header from its record."""
    _, kind, charset, encoding, _ = text
    head = f"Content-Type: {kind}" + (f'; charset="{charset}"' if charset else "") + "\r\n"
    return (head + f"Content-Transfer-Encoding: {encoding}\r\n").encode("ascii", "replace")


def _decode(encoding: str, data: bytes, label: str) -> bytes:
    """A part's bytes with its transfer encoding undone."""
    try:
        if encoding == "base64":
            return base64.b64decode(data)
    except binascii.Error as exc:
        raise ItemError(f"{label} cannot be decoded (broken base64: {exc})") from None
    return quopri.decodestring(data) if encoding == "quoted-printable" else data


def _decoded_size(encoding: str, size: int) -> int:
    """A part's size once decoded, at most, from its encoded size (base64 in lines of 76
    characters and CRLF, less what padding the last line may hold)."""
    return max(0, size * 57 // 78 - 4) if encoding == "base64" else size


def _fetched(data: list[Any]) -> list[_Fields]:
    """imaplib's FETCH answer as one {item name: value} per message."""
    answers = []
    for item in _tree(_tokens(data)):
        if isinstance(item, list):
            names = (_text(name).upper() for name in item[::2])
            answers.append(dict(zip(names, item[1::2], strict=False)))
    return answers


def _tokens(data: list[Any]) -> Iterator[object]:
    """The tokens of imaplib's answer lines, a (line, literal) pair's literal as bytes."""
    for item in data:
        line, literal = item if isinstance(item, tuple) else (item, None)
        if not isinstance(line, bytes):
            continue
        if literal is not None:
            line = LITERAL_MARK.sub(b"", line)
        for match in TOKEN.finditer(line):
            opened, closed, quoted, atom = match.groups()
            if opened or closed:
                yield OPEN if opened else CLOSE
            elif quoted is not None:
                yield re.sub(rb"\\(.)", rb"\1", quoted)
            elif atom:
                yield None if atom.upper() == b"NIL" else atom.decode("utf-8", "replace")
        if literal is not None:
            yield bytes(literal)


def _tree(tokens: Iterator[object]) -> list[Value]:
    """Tokens nested by their parentheses."""
    stack: list[list[Value]] = [[]]
    for token in tokens:
        if token is OPEN:
            stack.append([])
        elif token is CLOSE:
            if len(stack) > 1:
                done = stack.pop()
                stack[-1].append(done)
        else:
            stack[-1].append(token)  # type: ignore[arg-type]
    return stack[0]


def _pairs(value: Value) -> dict[str, str]:
    """A parenthesised ("key" "value" ...) list as a dict, keys in lower case."""
    if not isinstance(value, list):
        return {}
    return {_text(k).lower(): _text(v) for k, v in zip(value[::2], value[1::2], strict=False)}


def _text(value: Value) -> str:
    """An atom or string as text ('' for NIL)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else ""


def _bytes(value: Value) -> bytes:
    """A string's bytes (b'' for NIL)."""
    return value.encode() if isinstance(value, str) else value if isinstance(value, bytes) else b""


def _said(data: list[Any]) -> str:
    """What the server said, as text."""
    return " ".join(_text(item) for item in data if isinstance(item, bytes | str)) or "no reason"


def _reason(exc: OSError) -> str:
    """Why a connection failed, in words."""
    if isinstance(exc, socket.gaierror):
        return f"the host name is not known ({exc.strerror})"
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return exc.strerror or str(exc) or type(exc).__name__


def _utf7(name: str) -> str:
    """A folder name in IMAP's modified UTF-7 (RFC 3501 5.1.3)."""
    out, pending = [], ""
    for char in [*name, None]:
        if char is not None and not 0x20 <= ord(char) <= 0x7E:
            pending += char
            continue
        if pending:
            encoded = base64.b64encode(pending.encode("utf-16-be")).decode().rstrip("=")
            out.append("&" + encoded.replace("/", ",") + "-")
            pending = ""
        if char is not None:
            out.append("&-" if char == "&" else char)
    return "".join(out)


def _quoted(name: str) -> str:
    """A mailbox name as an IMAP quoted string."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


KIND = Kind(
    name="imap",
    summary="An IMAP mailbox: each message and each readable attachment becomes a document",
    settings=ImapSettings,
    secrets=("password",),
    make=lambda settings, secrets: ImapConnector(settings, secrets),
)
