"""Real services on 127.0.0.1 and free ports: Redis, Chroma, a Celery worker and the API."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from cli.localstack import GPTU, ROOT, Stack, free_port, stack_env, start_stack, wait_until
from cli.postgres import start_postgres
from core.offline import go_offline
from core.settings import Settings
from tests.servers import FakeSlack
from tests.world import World, make_world

go_offline()
CORPUS = ROOT.parent / "shared" / "corpus"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
WRONG_KEY = "gptu_this-is-no-key"
__all__ = ["CORPUS", "GPTU", "ROOT", "Stack", "wait_until"]


@pytest.fixture(scope="session")
def slack() -> Iterator[FakeSlack]:
    """A local stand-in for Slack's Web API that records what the bot posts."""
    server = FakeSlack()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, slack: FakeSlack) -> Iterator[Stack]:
    """Redis, Chroma, one worker and the API, as the Procfile starts them; Slack on."""
    tmp = tmp_path_factory.mktemp("stack")
    env = stack_env(
        tmp,
        GPTU_SLACK_BOT_TOKEN="xoxb-test",
        GPTU_SLACK_SIGNING_SECRET=SIGNING_SECRET,
        GPTU_SLACK_API_URL=f"{slack.url}/api/",
        GPTU_SWEEP_INTERVAL="0.5",
        GPTU_SOURCE_CHECK="1",  # beat asks every second which sources are due
        # other tests' data folders share this Chroma: its chunks are no orphans of this API
        GPTU_DOCTOR_INTERVAL="0",
        GPTU_REQUEUE_AFTER="30",
        GPTU_VISIBILITY_TIMEOUT="20",
        GPTU_WORKER_NICE="5",
        GPTU_MAX_UPLOAD_MB="5",
        GPTU_MAX_REQUEST_MB="8",
        GPTU_QUEUE_TIMEOUT="5",
        GPTU_MAX_ANSWER_TOKENS="48",
        GPTU_REDACT_PII="true",
        # one generation thread: beside the tuning tests' trainer (make test runs the unit and
        # isolated tests alongside), two llama.cpp threads wait on each other on a busy core
        GPTU_LLM_THREADS="1",
        # one embedding thread too: onnxruntime's threads spin while they wait for each other
        GPTU_WORKER_THREADS="1",
    )
    cluster = None
    if os.environ.get("GPTU_TEST_DATABASE") == "postgres":  # `make test-postgres`
        cluster = start_postgres(tmp / "postgres", free_port())
        env["GPTU_DATABASE_URL"] = cluster.url
    try:
        running = start_stack(tmp, env)
        try:
            yield running
        finally:
            running.stop()
    finally:
        if cluster is not None:
            cluster.close()


@pytest.fixture(scope="session")
def world(
    stack: Stack, slack: FakeSlack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """The permission matrix (tests/world.py): users, groups, collections, secret phrases."""
    with make_world(stack, slack, tmp_path_factory.mktemp("echo")) as built:
        yield built


def stack_settings(stack: Stack) -> Settings:
    """The settings the stack's processes run with."""
    return Settings(
        data_dir=stack.data_dir,
        database_url=stack.env.get("GPTU_DATABASE_URL", ""),
        redis_url=stack.env["GPTU_REDIS_URL"],
        chroma_port=int(stack.env["GPTU_CHROMA_PORT"]),
    )


def sql(stack: Stack, statement: str, **params: object) -> list[tuple[Any, ...]]:
    """Rows of a query on the stack's database (SQLite or Postgres), read directly."""
    engine = create_engine(stack_settings(stack).sqlalchemy_url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(statement), params)]
    finally:
        engine.dispose()


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
        for doc_id in [d for d in doc_ids if d not in done]:  # finished ones are not asked again
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


def readme_block(marker: str, language: str) -> str:
    """The first fenced block of a language after `<!-- marker -->` in README.md (examples
    that tests run, so the README cannot rot)."""
    after = (ROOT / "README.md").read_text().split(f"<!-- {marker} -->", 1)[1]
    return after.split(f"```{language}\n", 1)[1].split("\n```", 1)[0]
