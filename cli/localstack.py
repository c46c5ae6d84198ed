"""Start gptu's four processes on free local ports, as the Procfile does (tests, benchmarks)."""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar

import httpx

from cli.binaries import redis_server, venv_tool

ROOT = Path(__file__).resolve().parent.parent
GPTU = [sys.executable, "-m", "cli.main"]
T = TypeVar("T")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], T], timeout: float, what: str, every: float = 0.2) -> T:
    """Poll check until it returns something true, and return that; or raise naming what never
    happened (and the last error the check raised)."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # the service is still starting
            last = f" (last: {exc})"
        time.sleep(every)
    raise TimeoutError(f"{what} did not happen within {timeout} s{last}")


@dataclass
class Process:
    """A child process (its own process group) with its log file."""

    args: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it, logging to its file."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.args,
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the whole process group."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@dataclass
class Stack:
    """Redis, Chroma, workers and the API of one data folder."""

    data_dir: Path
    env: dict[str, str]
    api_url: str
    redis: Process
    workers: list[Process] = field(default_factory=list)
    processes: list[Process] = field(default_factory=list)
    chroma: Process | None = None

    def headers(self, key: str | None = None) -> dict[str, str]:
        """The Authorization header for key (default: the admin's)."""
        return {"Authorization": f"Bearer {key or self.env['GPTU_ADMIN_TOKEN']}"}

    def client(self, key: str | None = None) -> httpx.Client:
        """An HTTP client for the API, signed in with key (default: the admin's)."""
        return httpx.Client(base_url=self.api_url, timeout=120, headers=self.headers(key))

    def stop(self) -> None:
        """Stop every process, API first."""
        for proc in reversed(self.processes):
            proc.stop()


def stack_env(folder: Path, **overrides: str) -> dict[str, str]:
    """GPTU_* settings for a stack on free ports, data inside folder."""
    env = dict(os.environ)
    env.update(
        GPTU_DATA_DIR=str(folder / "data"),
        GPTU_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        GPTU_CHROMA_PORT=str(free_port()),
        GPTU_PORT=str(free_port()),
    )
    env["GPTU_API_URL"] = f"http://127.0.0.1:{env['GPTU_PORT']}"
    env["GPTU_ADMIN_TOKEN"] = env["GPTU_API_KEY"] = "gptu_admin_" + secrets.token_urlsafe(24)
    env.update(overrides)
    return env


def consuming(log: Path) -> bool:
    """Celery prints 'ready.' once the worker consumes."""
    return " ready." in log.read_text(errors="replace")


def start_stack(folder: Path, env: dict[str, str], workers: int = 1) -> Stack:
    """Start everything and wait until the API is ready and every worker consumes."""
    redis_server()  # fails loudly, naming the install command, when Redis is missing
    venv_tool("chroma")
    logs = folder / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    redis = Process([*GPTU, "redis"], env, logs / "redis.log")
    chroma = Process([*GPTU, "chroma"], env, logs / "chroma.log")
    pool = [Process([*GPTU, "worker"], env, logs / f"worker{i}.log") for i in range(workers)]
    beat = Process([*GPTU, "beat"], env, logs / "beat.log")
    api = Process([*GPTU, "serve"], env, logs / "api.log")
    stack = Stack(Path(env["GPTU_DATA_DIR"]), env, env["GPTU_API_URL"], redis, pool, chroma=chroma)
    stack.processes = [redis, chroma, *pool, beat, api]
    for proc in stack.processes:
        proc.start()
    try:
        ready = f"{stack.api_url}/readyz"
        wait_until(lambda: httpx.get(ready).status_code == 200, 120, "API ready")
        for proc in pool:
            wait_until(partial(consuming, proc.log), 120, "worker consuming")
    except BaseException:
        stack.stop()
        raise
    return stack


@dataclass
class MadeRun:
    """`make run` started in a folder of its own: the API's address, the admin's key and
    one-time sign-in link printed on first start, the combined output, and the process group
    to stop."""

    folder: Path
    url: str
    key: str
    output: Path
    proc: subprocess.Popen[bytes]
    link: str = ""

    def stop(self) -> None:
        """Stop honcho and every service it started."""
        Process([], {}, self.output, self.proc).stop()


def start_make_run(folder: Path) -> MadeRun:
    """`make run` as a new user runs it (relative `data/`, default settings, the Procfile), in
    `folder`, which gets links to the project (not its `data/` or `.env`), on free ports; wait
    until the API is ready and the worker consumes."""
    folder.mkdir(parents=True, exist_ok=True)
    for entry in ROOT.iterdir():
        if entry.name not in {"data", ".env", ".git"}:
            (folder / entry.name).symlink_to(entry)
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GPTU_", "MAKE")) and k != "MFLAGS"}  # fmt: skip
    env.update(
        GPTU_PORT=str(port),
        GPTU_API_URL=f"http://127.0.0.1:{port}",
        GPTU_CHROMA_PORT=str(free_port()),
        GPTU_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
    )
    output = folder.parent / f"{folder.name}-make-run.log"
    with output.open("wb") as out:
        proc = subprocess.Popen(["make", "run"], cwd=folder, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    started = MadeRun(folder, env["GPTU_API_URL"], "", output, proc)
    try:
        ready = f"{started.url}/readyz"
        wait_until(lambda: httpx.get(ready).status_code == 200, 240, "make run's API ready")
        wait_until(partial(consuming, output), 120, "make run's worker consuming")
        found = re.search(r"API key, shown only now:.*?\|\s+(gptu_\S+)", output.read_text(), re.S)
        if found is None:
            raise RuntimeError(f"make run printed no admin key; see {output}")
        started.key = found.group(1)
        link = re.search(r"\s(https?://\S+/welcome#\S+)", output.read_text())
        started.link = link.group(1) if link else ""
    except BaseException:
        started.stop()
        raise
    return started
