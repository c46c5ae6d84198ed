"""Secrets at rest: sources' passwords and tokens sealed with a key from settings.

Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) under a key derived from
GPTU_SECRET_KEY; when that is empty, from a random key written once to
GPTU_DATA_DIR/secret.key (readable by its owner only). A database copied without the key
(a backup) keeps the secrets unreadable.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from core.errors import GptuError
from core.settings import Settings

KEY_FILE = "secret.key"


class SecretsUnreadable(GptuError):
    """Sealed secrets that this key cannot open (the key changed or was lost)."""

    status = 500
    code = "secrets_unreadable"


def key_material(settings: Settings) -> str:
    """GPTU_SECRET_KEY, else the key file's content (made on first use)."""
    if settings.secret_key:
        return settings.secret_key
    path = settings.data_dir / KEY_FILE
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
        try:  # whole or not at all; when two processes race, the first link wins
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return Path(path).read_text().strip()


class Sealer:
    """Seals and opens small dicts of secrets."""

    def __init__(self, material: str) -> None:
        digest = hashlib.sha256(b"gptu secrets v1\0" + material.encode()).digest()
        self.fernet = Fernet(base64.urlsafe_b64encode(digest))

    @classmethod
    def from_settings(cls, settings: Settings) -> Sealer:
        """The sealer of this installation."""
        return cls(key_material(settings))

    def seal(self, values: dict[str, str]) -> str:
        """One opaque token holding values."""
        return self.fernet.encrypt(json.dumps(values).encode()).decode()

    def open(self, token: str | None) -> dict[str, str]:
        """The values sealed in token ({} for none)."""
        if not token:
            return {}
        try:
            values: dict[str, str] = json.loads(self.fernet.decrypt(token.encode()))
        except InvalidToken:
            raise SecretsUnreadable(
                "this source's stored password or token cannot be decrypted with this server's "
                "key (GPTU_SECRET_KEY or data/secret.key changed): set the key it was saved "
                "with, or give the source its secrets again"
            ) from None
        return values
