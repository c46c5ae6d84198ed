"""The project keeps its promises: documented settings, quiet imports (deploy: test_deploy.py)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from core.settings import Settings
from tests.conftest import ROOT


def test_every_setting_is_in_readme_and_env_example() -> None:
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / ".env.example").read_text()
    for name in Settings.model_fields:
        var = f"GPTU_{name.upper()}"
        assert f"`{var}`" in readme, f"{var} missing from README"
        assert re.search(rf"^{var}=", example, re.M), f"{var} missing from .env.example"


def test_every_path_setting_is_absolute_once_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make run` keeps its data in the relative data/: no later code may meet a relative path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GPTU_VARIANTS_FILE", "ab/variants.toml")
    monkeypatch.setenv("GPTU_MODEL_CACHE", "~/models")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.data_dir == tmp_path / "data"
    assert settings.files_dir == tmp_path / "data" / "files"
    assert settings.sqlalchemy_url == f"sqlite:///{tmp_path}/data/gptu.db"
    assert settings.variants_file == tmp_path / "ab" / "variants.toml"
    assert settings.model_cache == Path.home() / "models"
    monkeypatch.setenv("GPTU_VARIANTS_FILE", "")  # as .env.example writes it: no file
    assert Settings(_env_file=None).variants_file is None  # type: ignore[call-arg]


def test_importing_the_app_loads_no_model_and_opens_no_connection() -> None:
    probe = (
        "import socket, sys\n"
        "def refuse(*a, **k): raise SystemExit('connection attempted at import')\n"
        "socket.socket.connect = refuse\n"
        "import api.main, worker.tasks, ingest.pipeline, cli.main, slackbot.bot, app.services\n"
        "heavy = {'onnxruntime', 'unstructured', 'chromadb'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
        "print('quiet')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, env={"PATH": ""}
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "quiet"


def test_every_room_says_what_it_is() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = pyproject["tool"]["setuptools"]["packages"]
    rooms = pyproject["tool"]["importlinter"]["contracts"][0]["layers"]
    assert set(rooms) == {p for p in packages if "." not in p}
    readme = (ROOT / "README.md").read_text()
    for room in rooms:
        opening = (ROOT / room / "__init__.py").read_text()
        assert opening.startswith('"""') and len(opening) > 60, f"{room}/__init__.py says nothing"
        assert re.search(rf"^{room}/ ", readme, re.M), f"README Layout lacks {room}/"


def test_upload_page_needs_no_cdn() -> None:
    web = ROOT / "frontend" / "web"
    for page in web.iterdir():
        text = page.read_text()
        assert not re.search(r"(src|href)=\"https?://", text), page.name
        assert "import(" not in text or "http" not in text
