"""The deploy files serve: compose and the Procfile run commands that exist, with settings that
exist, from an image that installs what those commands import and none of the dev tools.

Docker does not run here, so the files are read as compose and BuildKit would read them, and
what they promise is checked against the code and the installed distributions.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, distribution
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
import yaml
from honcho.environ import parse_procfile
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from typer.testing import CliRunner

from cli.main import cli
from core.settings import Settings
from tests.conftest import ROOT

COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
DOCKERFILE = (ROOT / "Dockerfile").read_text()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
ROOMS = [p for p in PYPROJECT["tool"]["setuptools"]["packages"] if "." not in p]
# What only the test and lint tools need; the image must carry none of it.
DEV_TOOLS = {"pytest", "pytest-timeout", "playwright", "ruff", "mypy", "import-linter", "openai"}
# Distributions the image has without the runtime lock: the base image's installer, the wheel
# built in the Dockerfile's first stage, the vendored spaCy stand-in and gptu itself.
OUTSIDE_THE_LOCK = {"pip", "setuptools", "llama-cpp-python", "en-core-web-sm", "gptu"}
# Build arguments, not settings.
BUILD_ARGS = {"GPTU_CMAKE_ARGS"}
# Client-side adapters whose library the client's user brings; no service imports them
# (lint-imports keeps LangChain out of the server), so the image need not carry it.
CLIENT_ADAPTERS = {ROOT / "gptu_client" / "langchain.py"}


def interpolate(value: Any) -> Any:
    """A compose value as the container gets it: ${VAR:-default} with no VAR set, $$ → $."""
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    if not isinstance(value, str):
        return value
    pattern = r"\$\$|\$\{(\w+)(?::?-([^}]*))?\}"
    return re.sub(pattern, lambda m: "$" if m.group(0) == "$$" else m.group(2) or "", value)


SERVICES: dict[str, dict[str, Any]] = interpolate(yaml.safe_load(COMPOSE_TEXT)["services"])
PROCFILE = parse_procfile((ROOT / "Procfile").read_text()).processes


def lock_names(name: str) -> set[str]:
    """The distributions pinned in a lock or listed in a requirements file."""
    lines = (ROOT / name).read_text().splitlines()
    return {
        canonicalize_name(Requirement(line.split("#")[0]).name)
        for line in lines
        if line.strip() and not line.startswith(("#", "-"))
    }


def dockerfile_stages() -> dict[str, str]:
    """Each stage's text by name, the global ARG defaults under ""."""
    parts = re.split(r"^FROM ", DOCKERFILE, flags=re.M)
    stages = {"": parts[0]}
    for part in parts[1:]:
        name = re.match(r"\S+ AS (\w+)", part)
        assert name, f"unnamed stage: FROM {part.splitlines()[0]}"
        stages[name.group(1)] = "FROM " + part
    return stages


def arg_default(text: str, name: str) -> str:
    """The default of ARG name in text."""
    found = re.search(rf'^ARG {name}="?([^"\n]*)"?$', text, re.M)
    assert found, f"no ARG {name} with a default"
    return found.group(1)


def test_every_gptu_variable_is_a_setting() -> None:
    fields = {f"GPTU_{name.upper()}" for name in Settings.model_fields}
    for name in ("docker-compose.yml", ".env.example", "Procfile", "Dockerfile"):
        named = set(re.findall(r"\bGPTU_[A-Z0-9_]+", (ROOT / name).read_text()))
        unknown = named - fields - (BUILD_ARGS if name == "Dockerfile" else set())
        assert not unknown, f"{name} names variables gptu does not read: {sorted(unknown)}"


def gptu_subcommands(words: list[str]) -> list[tuple[str, ...]]:
    """The `gptu …` subcommands a command line runs, also inside `sh -c` scripts."""
    line = " ".join(words)
    return [tuple(m.split()) for m in re.findall(r"(?:^|[\s(/])gptu((?: [a-z][a-z-]*)+)", line)]


def gptu_services() -> dict[str, dict[str, Any]]:
    """The compose services that run the gptu image."""
    return {name: s for name, s in SERVICES.items() if s.get("image") == "gptu:local"}


def test_every_command_exists() -> None:
    commands = [s["command"] for s in gptu_services().values()]
    commands += [line.split() for line in PROCFILE.values()]
    subcommands = {sub for words in commands for sub in gptu_subcommands(words)}
    assert {("serve",), ("worker",), ("redis",), ("chroma",), ("models", "path"),
            ("migrate",)} <= subcommands  # fmt: skip
    runner = CliRunner()
    for sub in sorted(subcommands):
        done = runner.invoke(cli, [*sub, "--help"])
        assert done.exit_code == 0, f"`gptu {' '.join(sub)}` does not exist: {done.output}"


def test_the_llm_service_runs_llama_cpp_server_with_options_it_has() -> None:
    script = " ".join(SERVICES["llm"]["command"])
    assert re.search(r"python -m llama_cpp\.server\b", script)
    assert find_spec("llama_cpp.server") is not None
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    known = set(ModelSettings.model_fields) | set(ServerSettings.model_fields)
    options = set(re.findall(r"--(\w+)", script))
    assert options <= known, f"llama_cpp.server has no {sorted(options - known)}"
    assert '--model "$(gptu models path)"' in script
    assert {"host", "port", "n_ctx"} <= options
    # Variables read by the container's shell must be in the container's environment.
    for var in re.findall(r"\$\{?(\w+)", script):
        assert var in SERVICES["llm"]["environment"], f"llm's command reads unset ${var}"


def test_images_are_pinned() -> None:
    for name, service in SERVICES.items():
        if "build" in service:
            assert service["build"] == "." and service["image"] == "gptu:local", name
            continue
        image = service["image"]
        assert re.fullmatch(r"[\w./-]+:[\w.-]*\d[\w.-]*", image), f"{name}: pin {image}"
    stages = dockerfile_stages()
    for stage in list(stages)[1:]:
        base = re.match(r"FROM (\S+)", stages[stage])
        assert base, stage
        image = base.group(1)
        if image.startswith("${"):
            image = arg_default(stages[""], image.strip("${}"))
        assert image == "python:3.11-slim-bookworm", f"stage {stage} starts from {image}"


def test_compose_wires_the_services_together() -> None:
    assert set(SERVICES) == {
        "redis", "chroma", "postgres", "migrate", "llm", "worker", "beat", "api",
    }  # fmt: skip
    postgres = SERVICES["postgres"]["environment"]
    database = (
        f"postgresql://{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}"
        f"@postgres:5432/{postgres['POSTGRES_DB']}"
    )
    assert SERVICES["postgres"]["volumes"] and "healthcheck" in SERVICES["postgres"]
    llm_port = re.search(r"--port (\d+)", " ".join(SERVICES["llm"]["command"]))
    assert llm_port
    for name in ("worker", "beat", "api", "migrate"):
        env = SERVICES[name]["environment"]
        assert env["GPTU_DATABASE_URL"] == database, name
        assert Settings(database_url=database).sqlalchemy_url.startswith("postgresql+psycopg://")
        assert env["GPTU_REDIS_URL"].startswith("redis://redis:6379/"), name
        assert (env["GPTU_CHROMA_HOST"], env["GPTU_CHROMA_PORT"]) == ("chroma", "8000"), name
        assert env["GPTU_LLM_URL"] == f"http://llm:{llm_port.group(1)}/v1", name
    assert SERVICES["api"]["environment"]["GPTU_HOST"] == "0.0.0.0"
    assert "/readyz" in " ".join(SERVICES["api"]["healthcheck"]["test"])
    waits = {"migrate": "service_completed_successfully"}
    for name in ("worker", "beat", "api", "migrate"):
        for needed, how in SERVICES[name]["depends_on"].items():
            expected = waits.get(needed) or (
                "service_healthy" if "healthcheck" in SERVICES[needed] else "service_started"
            )
            assert how == {"condition": expected}, f"{name} → {needed}"
    assert {"redis", "chroma", "postgres", "migrate"} <= set(SERVICES["worker"]["depends_on"])
    assert {"redis", "chroma", "postgres", "migrate", "llm"} <= set(SERVICES["api"]["depends_on"])
    assert {"redis", "postgres", "migrate"} <= set(SERVICES["beat"]["depends_on"])
    for name in ("worker", "beat", "api"):  # files, the beat schedule, the secrets' key file
        assert SERVICES[name]["volumes"] == ["data:/data"], name


def test_the_procfile_runs_the_compose_processes_natively() -> None:
    # Compose adds Postgres, the migration and the shared llama.cpp server (docs/compose.md).
    assert set(PROCFILE) == set(SERVICES) - {"postgres", "migrate", "llm"}
    for name in ("worker", "beat", "api"):
        assert PROCFILE[name].split()[1:] == SERVICES[name]["command"][1:]


def third_party_imports() -> set[str]:
    """Every module outside the standard library that the rooms import, lazily or not."""
    found = set()
    for room in ROOMS:
        if room == "tune":
            continue  # it runs in .venv-tune (torch, transformers, peft), never in the image
        for path in set((ROOT / room).rglob("*.py")) - CLIENT_ADAPTERS:
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    found |= {alias.name for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    found.add(node.module)
    own = set(ROOMS) | {"__future__"}
    return {m for m in found if m.split(".")[0] not in own | set(sys.stdlib_module_names)}


PROBE = """
import json, sys, importlib
from importlib.metadata import packages_distributions
for name in sys.argv[1:]:
    importlib.import_module(name)
owners = packages_distributions()
tops = {name.split(".")[0] for name in sys.modules} - set(sys.stdlib_module_names)
print(json.dumps(sorted({d for top in tops for d in owners.get(top, [])})))
"""


def test_the_image_installs_what_serve_and_worker_import() -> None:
    modules = ["api.main", "worker.celery_app", "worker.tasks", "cli.main", "slackbot.bot"]
    modules += ["llama_cpp.server.app", "psycopg", *sorted(third_party_imports())]
    env = {"PATH": "", "DO_NOT_TRACK": "1", "ANONYMIZED_TELEMETRY": "False"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *modules], cwd=ROOT, capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    imported = {canonicalize_name(d) for d in json.loads(done.stdout)}
    assert {"llama-cpp-python", "unstructured", "chromadb", "celery", "psycopg"} <= imported
    installed = lock_names("requirements.lock") | lock_names("requirements-nodeps.txt")
    assert imported - installed <= OUTSIDE_THE_LOCK, "the image lacks what the services import"
    assert not imported & lock_names("requirements-dev.lock"), "the services import dev tools"


def requirement_closure(roots: list[Requirement]) -> set[str]:
    """Every distribution roots need, by the installed distributions' metadata."""
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(canonicalize_name(r.name), frozenset(r.extras)) for r in roots]
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        try:
            requires = distribution(name).requires or []
        except PackageNotFoundError:
            pytest.fail(f"{name} is not installed: run make install")
        for line in requires:
            req = Requirement(line)
            wanted = [{"extra": e} for e in extras] + [{"extra": ""}]
            if req.marker is None or any(req.marker.evaluate(env) for env in wanted):
                todo.append((canonicalize_name(req.name), frozenset(req.extras)))
    return {name for name, _ in seen}


def test_the_runtime_lock_is_complete_and_has_no_dev_tools() -> None:
    runtime = lock_names("requirements.lock")
    dev = lock_names("requirements-dev.lock")
    assert not runtime & dev
    assert dev >= DEV_TOOLS
    assert "-c requirements.lock" in (ROOT / "requirements-dev.in").read_text().splitlines()
    lines = (ROOT / "requirements.in").read_text().splitlines()
    roots = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    roots.append(Requirement("llama-cpp-python[server]"))
    needed = requirement_closure(roots)
    assert not needed & dev, f"runtime needs {sorted(needed & dev)} from the dev lock"
    assert needed - runtime <= OUTSIDE_THE_LOCK, f"not in the lock: {sorted(needed - runtime)}"
    makefile = (ROOT / "Makefile").read_text()
    assert "-r requirements.lock -r requirements-dev.lock" in makefile
    assert "cat requirements.lock requirements-dev.lock" in makefile  # the install stamp


def test_the_image_has_the_code_the_models_and_the_llama_wheel_but_no_compiler() -> None:
    stages = dockerfile_stages()
    runtime, build = stages["runtime"], stages["llama"]
    assert list(stages)[-1] == "runtime"
    from api.main import WEB
    from core.models import CATALOG

    read_by_path = {p.relative_to(ROOT).parts[0] for p in (WEB, CATALOG)}
    assert read_by_path == {"frontend", "models"}
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for folder in [*ROOMS, *sorted(read_by_path), "vendor"]:
        assert re.search(rf"^COPY {folder} \./{folder}$", runtime, re.M), f"image lacks {folder}/"
        assert folder not in ignored, f".dockerignore hides {folder}/"
    assert re.search(r"pip install --no-cache-dir -r requirements\.lock\b", runtime)
    assert re.search(r"pip install .*--no-deps -r requirements-nodeps\.txt", runtime)
    assert re.search(r"pip install .*--no-deps \./vendor/en_core_web_sm", runtime)
    assert re.search(
        r"^COPY --from=llama /wheels (\S+)\nRUN pip install .*\1/llama_cpp_python-\*\.whl",
        runtime,
        re.M,
    )
    instructions = re.sub(r"^#.*\n", "", runtime, flags=re.M)
    for tool in ("build-essential", "cmake", "gcc", "g++", "requirements-dev", *DEV_TOOLS):
        assert tool not in instructions, f"the runtime stage installs {tool}"
    user = re.findall(r"^USER (\S+)", runtime, re.M)
    assert user and user[-1] not in {"root", "0"}
    makefile = (ROOT / "Makefile").read_text()
    for name in ("LLAMA_VERSION", "GPTU_CMAKE_ARGS"):
        in_make = re.search(rf"^{name} \??:?= (.*)$", makefile, re.M)
        assert in_make and arg_default(stages[""], name) == in_make.group(1), name
        assert f"ARG {name}\n" in build, f"stage llama does not take {name}"
    assert 'CMAKE_ARGS="${GPTU_CMAKE_ARGS}" pip wheel' in build


def test_models_path_prints_the_gguf_the_llm_service_loads() -> None:
    runner = CliRunner()
    found = runner.invoke(cli, ["models", "path"], env={"GPTU_MODEL": "smollm2-135m"})
    assert found.exit_code == 0, found.output
    assert found.stdout.endswith(".gguf\n") and Path(found.stdout.strip()).is_file()
    missing = runner.invoke(cli, ["models", "path"], env={"GPTU_MODEL": "nope"})
    assert missing.exit_code == 1 and not missing.stdout
    assert "unknown model 'nope'" in missing.stderr
