"""The project keeps its promises: documented settings, matching deploy files, quiet imports."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

import yaml

from core.settings import Settings
from tests.conftest import ROOT


def test_every_setting_is_in_readme_and_env_example() -> None:
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / ".env.example").read_text()
    for name in Settings.model_fields:
        var = f"GPTU_{name.upper()}"
        assert f"`{var}`" in readme, f"{var} missing from README"
        assert re.search(rf"^{var}=", example, re.M), f"{var} missing from .env.example"


def test_compose_runs_the_same_processes_as_the_procfile_after_migrating() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    procfile = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()
    )
    assert set(procfile) == {"redis", "chroma", "worker", "api"}
    assert set(compose["services"]) == set(procfile) | {"migrate"}  # one shot before them
    assert compose["services"]["migrate"]["command"] == ["gptu", "migrate"]
    for name in ("worker", "api"):
        service = compose["services"][name]
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        command = " ".join(service["command"])
        assert command.split()[-1] == procfile[name].split()[-1]
        env = service["environment"]
        assert env["GPTU_REDIS_URL"].startswith("redis://redis:")
        assert env["GPTU_CHROMA_HOST"] == "chroma"
    assert (ROOT / "Dockerfile").read_text().count("requirements.lock") >= 2


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


def test_every_room_says_what_it_is_and_ships_in_the_image() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = pyproject["tool"]["setuptools"]["packages"]
    rooms = pyproject["tool"]["importlinter"]["contracts"][0]["layers"]
    assert set(rooms) == {p for p in packages if "." not in p}
    dockerfile = (ROOT / "Dockerfile").read_text()
    readme = (ROOT / "README.md").read_text()
    for room in rooms:
        opening = (ROOT / room / "__init__.py").read_text()
        assert opening.startswith('"""') and len(opening) > 60, f"{room}/__init__.py says nothing"
        assert f"COPY {room} ./{room}" in dockerfile, f"the image lacks {room}/"
        assert re.search(rf"^{room}/ ", readme, re.M), f"README Layout lacks {room}/"


def test_upload_page_needs_no_cdn() -> None:
    web = ROOT / "frontend" / "web"
    for page in web.iterdir():
        text = page.read_text()
        assert not re.search(r"(src|href)=\"https?://", text), page.name
        assert "import(" not in text or "http" not in text
