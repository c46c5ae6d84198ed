"""Sealed secrets: a round trip, another key refused, the key file made once, whole, 0600."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from core.secrets import KEY_FILE, Sealer, SecretsUnreadable, key_material
from core.settings import Settings


def test_sealed_values_open_only_with_their_key() -> None:
    token = Sealer("one key").seal({"password": "hunter2 ünïcode"})
    assert "hunter2" not in token
    assert Sealer("one key").open(token) == {"password": "hunter2 ünïcode"}
    assert Sealer("one key").open(None) == {}
    with pytest.raises(SecretsUnreadable, match="cannot be decrypted"):
        Sealer("another key").open(token)


def test_the_key_file_is_made_once_whole_and_private(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    with ThreadPoolExecutor(8) as pool:  # processes starting together agree on one key
        keys = set(pool.map(lambda _: key_material(settings), range(16)))
    assert len(keys) == 1 and len(keys.pop()) >= 40
    path = settings.data_dir / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in settings.data_dir.iterdir()] == [KEY_FILE]  # no drafts left
    assert key_material(Settings(data_dir=tmp_path / "data", secret_key="given")) == "given"
