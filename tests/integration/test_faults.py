"""Faults with real processes: a worker killed mid-document; Redis, Chroma and the model
server going away and coming back."""

from __future__ import annotations

import signal
import sys
import time

import httpx
import psutil
import pytest

from app.services import chroma_client, lexical_index
from cli.localstack import GPTU, Process, free_port
from core.db import Database
from core.models import model_file, resolve
from core.settings import Settings
from ingest.chunk import chunk_blocks
from ingest.index import ChromaIndex
from ingest.parse import parse_file
from tests.conftest import CORPUS, Stack, sql, stack_settings, upload, wait_done, wait_until

BIG = CORPUS / "norwich-city.txt"  # 122 chunks: several seconds of work to interrupt
DEPOT = b"# Depot\n\nThe depot opens at 6:45 on weekdays and at 8:00 on Saturdays.\n"


def test_worker_killed_mid_document_is_redelivered_without_duplicates(
    api: httpx.Client, collection: str, stack: Stack
) -> None:
    [item] = upload(api, collection, [(BIG.name, BIG.read_bytes())])
    wait_until(
        lambda: api.get(f"/v1/documents/{item['id']}").json()["status"] == "processing",
        60,
        "processing",
    )
    time.sleep(1.5)
    worker = stack.workers[0]
    assert worker.proc is not None
    children = psutil.Process(worker.proc.pid).children()
    assert children, "the worker has no pool process"
    for child in children:
        child.send_signal(signal.SIGKILL)

    doc = wait_done(api, [item["id"]], timeout=240)[item["id"]]
    assert doc["status"] == "ready", doc
    settings = stack_settings(stack)
    expected = len(chunk_blocks(parse_file(BIG, BIG.name, 1 << 30).blocks, settings.chunk_chars))
    assert doc["chunks"] == expected
    vectors = ChromaIndex(chroma_client(settings), "all-MiniLM-L6-v2-int8")
    assert vectors.count(item["id"]) == expected
    lexical = lexical_index(settings, Database(settings.sqlalchemy_url))
    assert lexical.count(item["id"]) == expected


def test_upload_while_redis_is_down_is_queued_and_processed_when_it_returns(
    api: httpx.Client, collection: str, stack: Stack
) -> None:
    stack.redis.stop()
    try:
        anonymous = httpx.get(f"{stack.api_url}/readyz")
        assert anonymous.status_code == 503
        assert anonymous.json()["checks"]["redis"] == "unavailable"  # no exception text
        assert "Error" not in anonymous.text and "refused" not in anonymous.text
        started = time.monotonic()
        [item] = upload(api, collection, [("later.txt", b"Written while the queue was down.")])
        assert time.monotonic() - started < 10
        assert item["status"] == "queued"
        time.sleep(2)
        assert api.get(f"/v1/documents/{item['id']}").json()["status"] == "queued"
    finally:
        stack.redis.start()
    doc = wait_done(api, [item["id"]], timeout=120)[item["id"]]
    assert doc["status"] == "ready", doc
    assert api.get("/readyz").status_code == 200


def ask(
    api: httpx.Client, collection: str, path: str = "/v1/chat", **extra: object
) -> httpx.Response:
    """One question about the depot, on /v1/chat or the OpenAI route."""
    body = {"messages": [{"role": "user", "content": "When does the depot open on weekdays?"}],
            "collections": [collection], "stream": False, **extra}  # fmt: skip
    return api.post(path, json=body)


def unavailable(answer: httpx.Response, code: str) -> bool:
    """A 503 with our envelope's code and a Retry-After."""
    return (
        answer.status_code == 503
        and answer.json()["error"]["code"] == code
        and int(answer.headers["retry-after"]) > 0
    )


def retries(stack: Stack) -> int:
    """Celery retries the worker has logged so far."""
    return stack.workers[0].log.read_text(errors="replace").count("retry: Retry in")


@pytest.mark.slow
def test_chroma_down_is_503_and_a_document_waits_for_it_without_counting_crashes(
    api: httpx.Client, collection: str, stack: Stack
) -> None:
    [known] = upload(api, collection, [("depot.txt", DEPOT)])
    assert wait_done(api, [known["id"]])[known["id"]]["status"] == "ready"
    assert stack.chroma is not None
    retried = retries(stack)
    stack.chroma.stop()
    try:
        searched = api.post("/v1/search", json={"query": "depot", "collections": [collection]})
        assert unavailable(searched, "index_unavailable"), searched.text
        assert unavailable(ask(api, collection), "index_unavailable")
        [item] = upload(api, collection, [("later.txt", b"The canteen closes at 14:30 daily.")])

        def retrying() -> bool:
            doc = api.get(f"/v1/documents/{item['id']}").json()
            return doc["status"] == "queued" and "waiting to retry" in (doc["error"] or "")

        wait_until(retrying, 60, "the document waits to retry")
        wait_until(lambda: retries(stack) >= retried + 2, 30, "Celery retried it twice")
        [(attempts,)] = sql(stack, "SELECT attempts FROM documents WHERE id = :d", d=item["id"])
        assert attempts <= 1  # the tries in the outage were not counted as crashes
    finally:
        stack.chroma.start()
    doc = wait_done(api, [item["id"]], timeout=120)[item["id"]]
    assert doc["status"] == "ready", doc
    assert doc["error"] is None
    wait_until(lambda: ask(api, collection).status_code == 200, 60, "questions answered again")


def test_a_killed_model_server_is_503_until_it_returns(
    api: httpx.Client, collection: str, stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> None:
    [known] = upload(api, collection, [("depot.txt", DEPOT)])
    assert wait_done(api, [known["id"]])[known["id"]]["status"] == "ready"
    settings = Settings()
    gguf = model_file(resolve(settings.model, settings.model_cache), settings.model_cache)
    logs = tmp_path_factory.mktemp("model-server")
    port = free_port()
    server = Process([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf),
                      "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"],
                     stack.env, logs / "llama.log")  # fmt: skip
    env = {**stack.env, "GPTU_PORT": str(free_port()),
           "GPTU_LLM_URL": f"http://127.0.0.1:{port}/v1"}  # fmt: skip
    front = Process([*GPTU, "serve"], env, logs / "api.log")
    models = f"http://127.0.0.1:{port}/v1/models"

    def up() -> bool:
        return httpx.get(models).status_code == 200

    server.start()
    front.start()
    try:
        url = f"http://127.0.0.1:{env['GPTU_PORT']}"
        wait_until(lambda: httpx.get(f"{url}/readyz").status_code == 200, 120, "API ready")
        wait_until(up, 120, "model server up")
        with httpx.Client(base_url=url, headers=stack.headers(), timeout=120) as front_api:
            assert ask(front_api, collection).status_code == 200
            server.stop(signal.SIGKILL)
            assert unavailable(ask(front_api, collection), "model_unavailable")
            streamed = ask(front_api, collection, "/v1/chat/completions", stream=True)
            assert unavailable(streamed, "model_unavailable")
            sse = ask(front_api, collection, stream=True).text  # evidence first, then the error
            assert "event: quote" in sse and '"code": "model_unavailable"' in sse
            server.start()
            wait_until(up, 120, "model server back")
            again = ask(front_api, collection)
            assert again.status_code == 200 and again.json()["answer"], again.text
    finally:
        front.stop()
        server.stop()
