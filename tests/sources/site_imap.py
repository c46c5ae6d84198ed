"""A real Dovecot IMAP server on 127.0.0.1 with one mailbox user, "support", whose INBOX
holds one message per item (Subject = the item's name), delivered by IMAP APPEND.

Dovecot runs in the foreground with its own configuration, sockets, state and mail in a temporary
folder, in its own process group so that stop() ends it and all its children. Run as root, its
login and mail processes take the package's unprivileged users (dovenull, dovecot); run as
anyone else, everything runs as that user. Every IMAP command a client sends after logging in
is recorded (Dovecot's rawlog), so tests can see what a listing asked for.
"""

from __future__ import annotations

import contextlib
import grp
import imaplib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import formatdate
from pathlib import Path
from typing import Any

INSTALL = "apt-get install -y --no-install-recommends dovecot-imapd"
USER = "support"

CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = {internal}
default_internal_group = {internal_group}
default_login_user = {login}
first_valid_uid = 1
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/users
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
protocol imap {{
  rawlog_dir = {root}/rawlog
}}
"""


class ImapSite:
    """A running Dovecot with the "support" mailbox."""

    kind = "imap"

    def __init__(self, root: Path, port: int, password: str, process: subprocess.Popen[bytes]):
        self.root = root
        self.port = port
        self.password = password
        self.process = process

    def settings(self) -> dict[str, Any]:
        """The gptu source's settings for this mailbox."""
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "security": "none",
            "username": USER,
            "folders": ["INBOX"],
        }

    def secrets(self) -> dict[str, str]:
        """The mailbox's password."""
        return {"password": self.password}

    def write(self, name: str, text: str) -> None:
        """Replace message `name` (delete it, then append a new one: IMAP messages never
        change) with a plain-text message whose body is `text`."""
        message = EmailMessage()
        message["From"] = "Customer <customer@example.org>"
        message["To"] = "support@example.org"
        message["Subject"] = name
        message["Date"] = formatdate(localtime=True)
        message.set_content(text)
        self.remove(name)
        self.append(message)

    def remove(self, name: str) -> None:
        """Delete (\\Deleted + EXPUNGE) the messages whose subject is `name`."""
        with self.client() as client:
            uids = self.uids(name, client)
            if uids:
                client.uid("STORE", ",".join(uids), "+FLAGS.SILENT", "(\\Deleted)")
                client.expunge()

    def append(self, message: EmailMessage | bytes, folder: str = "INBOX") -> None:
        """Deliver a message to a folder, as a mail client would (IMAP APPEND)."""
        data = message if isinstance(message, bytes) else message.as_bytes()
        with self.client() as client:
            typ, answer = client.append(folder, None, None, data)
            assert typ == "OK", answer

    def uids(self, subject: str, client: imaplib.IMAP4) -> list[str]:
        """The UIDs of INBOX's messages whose subject is exactly `subject`."""
        _typ, data = client.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        found = []
        for item in data:
            if isinstance(item, tuple):
                uid = item[0].split(b"UID ")[1].split()[0].decode()
                if BytesHeaderParser().parsebytes(item[1]).get("subject", "").strip() == subject:
                    found.append(uid)
        return found

    def seen(self) -> int:
        """How many messages in INBOX are flagged \\Seen."""
        with self.client() as client:
            _typ, data = client.uid("SEARCH", "SEEN")
            return len(data[0].split()) if data and data[0] else 0

    @contextlib.contextmanager
    def client(self) -> Iterator[imaplib.IMAP4]:
        """A logged-in IMAP client with INBOX selected (read-write)."""
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        try:
            client.login(USER, self.password)
            client.select("INBOX")
            yield client
        finally:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                client.logout()

    def commands(self) -> list[str]:
        """Every command clients sent after logging in, in order, without their tags."""
        time.sleep(0.2)  # the imap process writes its rawlog as it ends the session
        lines: list[str] = []
        for log in sorted((self.root / "rawlog").glob("*.in")):
            for line in log.read_text(errors="replace").splitlines():
                parts = line.split(" ", 2)  # timestamp, tag, command
                if len(parts) == 3:
                    lines.append(parts[2])
        return lines

    def forget_commands(self) -> None:
        """Start the record of commands afresh."""
        for log in (self.root / "rawlog").iterdir():
            log.unlink()

    def stop(self) -> None:
        """Stop Dovecot and every process it started, and remove its folder."""
        group = self.process.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        self.process.wait(timeout=5)
        shutil.rmtree(self.root, ignore_errors=True)


def start(tmp: Path) -> ImapSite:
    """Start Dovecot on a free port with an empty mailbox for user "support"."""
    binary = shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/usr/local/sbin")
    if binary is None:
        raise RuntimeError(f"dovecot is not installed: {INSTALL}")
    # Outside `tmp`: Dovecot's unprivileged processes must be able to reach it.
    root = Path(tempfile.mkdtemp(prefix="gptu-imap-", dir=tmp if os.getuid() else None))
    root.chmod(0o755)
    port, password = free_port(), secrets.token_urlsafe(12)
    write_config(root, port, password)
    with (root / "dovecot.out").open("wb") as log:
        process = subprocess.Popen(
            [binary, "-F", "-c", str(root / "dovecot.conf")],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    site = ImapSite(root, port, password, process)
    try:
        wait_until_answering(site)
    except Exception:
        site.stop()
        raise
    return site


def write_config(root: Path, port: int, password: str) -> None:
    """Dovecot's configuration, its users file and the folders it writes to."""
    me = pwd.getpwuid(os.getuid())
    internal = pwd.getpwnam("dovecot") if os.getuid() == 0 else me
    login = "dovenull" if os.getuid() == 0 else me.pw_name
    for name in ("run", "state", "mail", "rawlog"):
        (root / name).mkdir()
    for name in ("mail", "rawlog"):
        os.chown(root / name, internal.pw_uid, internal.pw_gid)
    group = internal.pw_gid
    (root / "dovecot.conf").write_text(
        CONFIG.format(
            root=root,
            port=port,
            internal=internal.pw_name,
            internal_group=grp.getgrgid(group).gr_name,
            login=login,
        )
    )
    mail_user = f"{internal.pw_uid}:{group}::{root}/mail/{USER}"
    (root / "users").write_text(f"{USER}:{{PLAIN}}{password}:{mail_user}\n")


def wait_until_answering(site: ImapSite, seconds: float = 15) -> None:
    """Wait until the server greets on its port and takes the user's password."""
    deadline = time.monotonic() + seconds
    while True:
        if site.process.poll() is not None:
            raise RuntimeError(f"dovecot stopped at start: {_log(site.root)}")
        try:
            with site.client():
                return
        except (OSError, imaplib.IMAP4.error) as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"dovecot did not answer ({exc}): {_log(site.root)}") from exc
            time.sleep(0.1)


def _log(root: Path) -> str:
    """The end of Dovecot's logs."""
    texts = [
        (root / name).read_text(errors="replace")
        for name in ("dovecot.out", "dovecot.log")
        if (root / name).exists()
    ]
    return "\n".join(texts)[-2000:]


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
