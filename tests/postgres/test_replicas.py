"""Replicas: two APIs and two workers on one Postgres, Redis, Chroma and one model server.

20 people ask at once through both APIs while 50 files are uploaded through both: every
question is answered or told to retry (503 with Retry-After), every document ends ready, and
nothing is duplicated or lost in SQL, the lexical index or Chroma. What the processes still
share besides those servers is the stored files (GPTU_DATA_DIR/files: a shared disk).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import psycopg
import pytest

from app.services import chroma_client
from bench.load import crowd, summary
from cli.localstack import GPTU, Process, Stack, free_port, stack_env, start_stack, wait_until
from cli.postgres import Postgres, start_postgres
from core.models import model_file, resolve
from core.settings import Settings
from ingest.index import ChromaIndex
from tests.conftest import upload, wait_done

pytestmark = pytest.mark.slow
FILES = 50


@dataclass
class Replicas:
    """The shared servers, the two API addresses and the admin key."""

    stack: Stack
    cluster: Postgres
    apis: list[str]
    key: str


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    folder = tmp_path_factory.mktemp("replicas")
    cluster = start_postgres(folder / "cluster", free_port())
    settings = Settings()
    gguf = model_file(resolve(settings.model, settings.model_cache), settings.model_cache)
    port = free_port()
    model = Process([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf),
                     "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"],
                    dict(stack_env(folder)), folder / "llama.log")  # fmt: skip
    model.start()
    env = stack_env(folder, GPTU_DATABASE_URL=cluster.url, GPTU_LLM_URL=f"http://127.0.0.1:{port}/v1",
                    GPTU_MAX_ANSWER_TOKENS="24", GPTU_QUEUE_TIMEOUT="8", GPTU_DOCTOR_INTERVAL="0",
                    GPTU_WORKER_NICE="5")  # fmt: skip
    second = {**env, "GPTU_PORT": str(free_port())}
    api2 = Process([*GPTU, "serve"], second, folder / "api2.log")
    stack = None
    try:
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/v1/models").is_success, 120, "model")
        stack = start_stack(folder, env, workers=2)
        api2.start()
        url2 = f"http://127.0.0.1:{second['GPTU_PORT']}"
        wait_until(lambda: httpx.get(f"{url2}/readyz").status_code == 200, 120, "second API")
        yield Replicas(stack, cluster, [stack.api_url, url2], env["GPTU_ADMIN_TOKEN"])
    finally:
        api2.stop()
        if stack is not None:
            stack.stop()
        model.stop()
        cluster.close()


def test_two_apis_and_two_workers_lose_and_duplicate_nothing(replicas: Replicas) -> None:
    key = replicas.key
    signed = {"Authorization": f"Bearer {key}"}
    first, second = (httpx.Client(base_url=u, timeout=120, headers=signed) for u in replicas.apis)
    first.post("/v1/collections", json={"name": "shared"}).raise_for_status()
    [seed] = upload(first, "shared", [("depot.md", b"The depot opens at 6:45 on weekdays.")])
    assert wait_done(first, [seed["id"]])[seed["id"]]["status"] == "ready"
    texts = [(f"note-{i:02}.txt", f"Note {i}: shelf {i} holds part number {1000 + i}.".encode())
             for i in range(FILES)]  # fmt: skip
    accepted: list[dict] = []
    asked: list = []

    def send(client: httpx.Client, files: list[tuple[str, bytes]]) -> None:
        for start in range(0, len(files), 5):
            accepted.extend(upload(client, "shared", files[start : start + 5]))

    def ask(url: str) -> None:
        asked.extend(crowd(url, key, "shared", 10))

    threads = [threading.Thread(target=send, args=(first, texts[::2])),
               threading.Thread(target=send, args=(second, texts[1::2])),
               *(threading.Thread(target=ask, args=(url,)) for url in replicas.apis)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    figures = summary(asked)
    assert len(asked) == 20 and figures["transport errors"] == 0, figures
    assert {r.status for r in asked} <= {200, 503} and figures["503 without Retry-After"] == 0
    assert figures["answered"] >= 10, figures
    ids = [a["id"] for a in accepted]
    assert len(ids) == FILES == len(set(ids))
    docs = wait_done(first, ids, timeout=300)
    assert all(d["status"] == "ready" and d["chunks"] == 1 for d in docs.values()), docs
    with psycopg.connect(replicas.cluster.url) as conn:
        [(rows,)] = conn.execute("SELECT count(*) FROM documents").fetchall()
        [(chunks, distinct)] = conn.execute(
            "SELECT count(*), count(DISTINCT id) FROM lexical_chunks"
        ).fetchall()
    assert rows == FILES + 1 and chunks == distinct == FILES + 1
    settings = Settings(chroma_port=int(replicas.stack.env["GPTU_CHROMA_PORT"]))
    vectors = ChromaIndex(chroma_client(settings), "all-MiniLM-L6-v2-int8")
    assert sum(vectors.count(i) for i in ids) == FILES
    found = second.post("/v1/search", json={"query": "1042", "collections": ["shared"]})
    assert found.json()["results"][0]["filename"] == "note-42.txt"
