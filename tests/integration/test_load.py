"""Load: 20, then 50 people asking at once get answers or 503 with Retry-After, never a 500.

A second API joins the session stack with the real default model and a database pool of
three connections: enough only because no request holds a connection while it waits for the
model (the issue: 20 askers exhausted a pool of 15 and five of them got a 500).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import psutil
import pytest

from bench.load import crowd, summary
from cli.localstack import GPTU, Process, free_port
from tests.conftest import CORPUS, Stack, upload, wait_done, wait_until

pytestmark = pytest.mark.slow


@dataclass
class Crowded:
    """The extra API, its process and the collection it is asked about."""

    url: str
    process: psutil.Process
    collection: str


@pytest.fixture(scope="module")
def crowded(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crowded]:
    name = f"load-{free_port()}"
    files = [("family-day.eml", (CORPUS / "family-day.eml").read_bytes())]
    with stack.client() as api:
        api.post("/v1/collections", json={"name": name}).raise_for_status()
        ids = [item["id"] for item in upload(api, name, files)]
        assert all(d["status"] == "ready" for d in wait_done(api, ids).values())
    env = {**stack.env, "GPTU_PORT": str(free_port()), "GPTU_DB_POOL_SIZE": "2",
           "GPTU_DB_MAX_OVERFLOW": "1", "GPTU_DB_POOL_TIMEOUT": "5",
           "GPTU_QUEUE_TIMEOUT": "4", "GPTU_MAX_ANSWER_TOKENS": "24",
           "GPTU_MAX_WAITING": "24", "GPTU_SWEEP_INTERVAL": "1"}  # fmt: skip
    url = f"http://127.0.0.1:{env['GPTU_PORT']}"
    server = Process([*GPTU, "serve"], env, tmp_path_factory.mktemp("load") / "api.log")
    server.start()
    try:
        wait_until(lambda: httpx.get(f"{url}/readyz").status_code == 200, 120, "load API ready")
        assert server.proc is not None
        yield Crowded(url, psutil.Process(server.proc.pid), name)
    finally:
        server.stop()


@pytest.mark.parametrize("askers", [20, 50])
def test_a_crowd_gets_answers_or_503_with_retry_after(
    stack: Stack, crowded: Crowded, askers: int
) -> None:
    before = crowded.process.memory_info().rss
    results = crowd(crowded.url, stack.env["GPTU_ADMIN_TOKEN"], crowded.collection, askers)
    figures = summary(results)
    assert figures["transport errors"] == 0, [r.error for r in results if r.error]
    assert {r.status for r in results} <= {200, 503}, figures
    assert figures["503 without Retry-After"] == 0, figures
    assert {r.code for r in results if r.status == 503} <= {"model_busy"}, figures
    assert all(r.status == 200 for r in results if r.kind == "search"), figures  # no model
    assert figures["answered"] > askers // 4, figures
    for streamed in (r for r in results if r.kind == "stream" and r.status == 200):
        assert streamed.first_token_s is not None and not streamed.code
    grown = (crowded.process.memory_info().rss - before) / 2**20
    assert grown < 200, f"the API grew by {grown:.0f} MB"
    with httpx.Client(base_url=crowded.url, headers=stack.headers()) as api:
        assert api.get("/readyz").status_code == 200  # and it is still well
        assert api.get("/v1/collections").status_code == 200
