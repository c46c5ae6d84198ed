"""Faults with real processes: a worker killed mid-document, Redis going away."""

from __future__ import annotations

import signal
import time

import httpx
import psutil

from app.services import chroma_client
from core.settings import Settings
from ingest.chunk import chunk_blocks
from ingest.index import ChromaIndex
from ingest.lexical import LexicalIndex
from ingest.parse import parse_file
from tests.conftest import CORPUS, Stack, upload, wait_done, wait_until

BIG = CORPUS / "example-10k.html"


def stack_settings(stack: Stack) -> Settings:
    """The settings the stack's processes run with."""
    return Settings(
        data_dir=stack.data_dir,
        redis_url=stack.env["GPTU_REDIS_URL"],
        chroma_port=int(stack.env["GPTU_CHROMA_PORT"]),
    )


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
    assert LexicalIndex(settings.lexical_path).count(item["id"]) == expected


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
