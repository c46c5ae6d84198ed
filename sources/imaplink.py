"""One IMAP connection, shared by a listing and its reads: login, read-only folders, errors."""

from __future__ import annotations

import base64
import contextlib
import imaplib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sources.base import ItemError, SourceError
from sources.imapparse import Fields, Value, as_text, fetched

if TYPE_CHECKING:
    from sources.imap import ImapSettings

IDLE_CHECK = 60.0  # seconds unused after which a connection is tested before use


class Link:
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
            return fetched(data)

    def fetch_one(self, folder: str, validity: int, uid: int, items: str) -> Fields:
        """One message's FETCH answer; ItemError when it was deleted since the listing."""
        for fields in self.fetch(folder, validity, [uid], items):
            if as_text(fields.get("UID")) == str(uid):
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
            typ, data = self.conn.select(_quoted(utf7(folder)), readonly=True)
            if typ != "OK":
                raise SourceError(
                    f'the IMAP server {self.where} has no folder "{folder}" for user '
                    f"{self.settings.username} ({_said(data)}): check the folders setting"
                )
            found = self.conn.response("UIDVALIDITY")[1]
            self.selected = (folder, int(as_text(found[0]) or 0) if found else 0)
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


def _said(data: list[Any]) -> str:
    """What the server said, as text."""
    return " ".join(as_text(item) for item in data if isinstance(item, bytes | str)) or "no reason"


def _reason(exc: OSError) -> str:
    """Why a connection failed, in words."""
    if isinstance(exc, socket.gaierror):
        return f"the host name is not known ({exc.strerror})"
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return exc.strerror or str(exc) or type(exc).__name__


def utf7(name: str) -> str:
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
