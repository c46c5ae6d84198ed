"""Real services on 127.0.0.1 and free ports: Redis, Chroma, a Celery worker and the API."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from core.binaries import redis_server, venv_tool
from core.offline import go_offline

go_offline()
ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
GPTU = [sys.executable, "-m", "core.cli"]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll check until it is true, or fail the test naming what never came up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # the service is still starting
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{what} did not come up within {timeout} s")


@dataclass
class Process:
    """A child process with its log file."""

    args: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it, logging to its file."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.args, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

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
    """The running services and how to reach them."""

    data_dir: Path
    env: dict[str, str]
    api_url: str
    redis: Process
    processes: list[Process] = field(default_factory=list)

    def client(self) -> httpx.Client:
        """An HTTP client for the API."""
        return httpx.Client(base_url=self.api_url, timeout=60)


def service_env(tmp: Path) -> dict[str, str]:
    """GPTU_* settings for a test stack on free ports."""
    env = dict(os.environ)
    env.update(
        GPTU_DATA_DIR=str(tmp / "data"),
        GPTU_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        GPTU_CHROMA_PORT=str(free_port()),
        GPTU_PORT=str(free_port()),
        GPTU_SWEEP_INTERVAL="0.5",
        GPTU_REQUEUE_AFTER="30",
        GPTU_VISIBILITY_TIMEOUT="20",
        GPTU_WORKER_NICE="5",
        GPTU_MAX_UPLOAD_MB="5",
        GPTU_LOG_LEVEL="INFO",
    )
    env["GPTU_API_URL"] = f"http://127.0.0.1:{env['GPTU_PORT']}"
    return env


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Redis, Chroma, one worker and the API, as the Procfile starts them."""
    tmp = tmp_path_factory.mktemp("stack")
    env = service_env(tmp)
    logs = tmp / "logs"
    logs.mkdir()
    redis_server()  # fails loudly, naming the install command, when Redis is missing
    venv_tool("chroma")
    procs = {
        name: Process([*GPTU, name], env, logs / f"{name}.log")
        for name in ("redis", "chroma", "worker", "serve")
    }
    s = Stack(Path(env["GPTU_DATA_DIR"]), env, env["GPTU_API_URL"], procs["redis"])
    s.processes = list(procs.values())
    for proc in s.processes:
        proc.start()
    try:
        wait_until(lambda: httpx.get(f"{s.api_url}/readyz").status_code == 200, 90, "the API")
        wait_until(lambda: worker_ready(procs["worker"].log), 90, "the worker")
        yield s
    finally:
        for proc in reversed(s.processes):
            proc.stop()


def worker_ready(log: Path) -> bool:
    """Celery prints 'ready.' once it consumes."""
    return " ready." in log.read_text(errors="replace")


@pytest.fixture
def api(stack: Stack) -> Iterator[httpx.Client]:
    """An HTTP client for the stack's API."""
    with stack.client() as client:
        yield client


_names = iter(range(1_000_000))


@pytest.fixture
def collection(api: httpx.Client) -> str:
    """A fresh, empty collection."""
    name = f"c{os.getpid()}-{next(_names)}"
    api.post("/v1/collections", json={"name": name}).raise_for_status()
    return name


def wait_done(api: httpx.Client, doc_ids: list[str], timeout: float = 180) -> dict[str, dict]:
    """Poll until every document is ready or failed; return them by id."""
    done: dict[str, dict] = {}

    def all_done() -> bool:
        for doc_id in doc_ids:
            doc = api.get(f"/v1/documents/{doc_id}").json()
            if doc["status"] in ("ready", "failed"):
                done[doc_id] = doc
        return len(done) == len(doc_ids)

    wait_until(all_done, timeout, f"documents {doc_ids}")
    return done


def upload(api: httpx.Client, collection: str, files: list[tuple[str, bytes]]) -> list[dict]:
    """POST files to the collection and return the accepted items."""
    answer = api.post(
        "/v1/documents",
        data={"collection": collection},
        files=[("file", (name, content)) for name, content in files],
    )
    assert answer.status_code == 202, answer.text
    items: list[dict] = answer.json()
    return items
