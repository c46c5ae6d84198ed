"""Any start order (compose and podman start services without waiting for health): the API, a
worker and `gptu migrate` started before PostgreSQL, Chroma, Redis and the model server say
what they wait for, stay up, and serve once those answer."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from cli.localstack import GPTU, Process, consuming, free_port, stack_env, wait_until
from cli.postgres import start_postgres
from core.models import model_file, resolve
from core.settings import Settings
from tests.conftest import upload, wait_done

pytestmark = pytest.mark.slow


def said(proc: Process, words: str) -> bool:
    return words in proc.log.read_text(errors="replace")


def test_api_worker_and_migrate_wait_for_servers_that_start_later(tmp_path: Path) -> None:
    cluster = start_postgres(tmp_path / "cluster", free_port())
    cluster.stop()  # the database exists; its server is down as gptu starts
    llm_port = free_port()
    env = stack_env(tmp_path, GPTU_DATABASE_URL=cluster.url, GPTU_DOCTOR_INTERVAL="0",
                    GPTU_START_TIMEOUT="180", GPTU_LLM_URL=f"http://127.0.0.1:{llm_port}/v1",
                    GPTU_MAX_ANSWER_TOKENS="16")  # fmt: skip
    settings = Settings()
    gguf = model_file(resolve(settings.model, settings.model_cache), settings.model_cache)
    logs = tmp_path / "logs"
    logs.mkdir()
    redis = Process([*GPTU, "redis"], env, logs / "redis.log")
    chroma = Process([*GPTU, "chroma"], env, logs / "chroma.log")
    migrate = Process([*GPTU, "migrate"], env, logs / "migrate.log")
    worker = Process([*GPTU, "worker"], env, logs / "worker.log")
    api = Process([*GPTU, "serve"], env, logs / "api.log")
    serve_model = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf),
                   "--host", "127.0.0.1", "--port", str(llm_port), "--n_ctx", "2048"]  # fmt: skip
    llm = Process(serve_model, env, logs / "llm.log")
    gptu = [migrate, worker, api]
    database = f"waiting for PostgreSQL at 127.0.0.1:{cluster.port}"
    vectors = f"waiting for Chroma at 127.0.0.1:{env['GPTU_CHROMA_PORT']}"
    ready = f"{env['GPTU_API_URL']}/readyz"
    try:
        for proc in gptu:
            proc.start()
        wait_until(lambda: all(said(p, database) for p in gptu), 90, "all three wait for SQL")
        assert all(p.proc and p.proc.poll() is None for p in gptu)

        cluster.start()
        wait_until(lambda: migrate.proc and migrate.proc.poll() is not None, 90, "migrate done")
        assert migrate.proc and migrate.proc.returncode == 0, migrate.log.read_text()
        wait_until(lambda: said(api, vectors) and said(worker, vectors), 90, "both wait for Chroma")
        assert all(p.proc and p.proc.poll() is None for p in (api, worker))

        chroma.start()
        # The API serves without Redis (uploads wait in SQL for the sweeper); readiness says so.
        wait_until(lambda: httpx.get(ready).status_code in (200, 503), 120, "API listening")
        checks = httpx.get(ready).json()["checks"]
        assert checks["redis"] == "unavailable"
        assert checks["database"] == checks["chroma"] == "ok"
        wait_until(lambda: said(worker, "Cannot connect to redis://"), 60, "worker waits for Redis")

        redis.start()
        wait_until(lambda: httpx.get(ready).json()["checks"]["redis"] == "ok", 60, "Redis seen")
        checks = httpx.get(ready).json()["checks"]
        assert checks["model"] == "unavailable"  # the model server is not up yet
        wait_until(lambda: consuming(worker.log), 120, "worker consuming")

        llm.start()
        wait_until(lambda: httpx.get(ready).status_code == 200, 120, "API ready")
        signed = {"Authorization": f"Bearer {env['GPTU_ADMIN_TOKEN']}"}
        with httpx.Client(base_url=env["GPTU_API_URL"], timeout=60, headers=signed) as client:
            client.post("/v1/collections", json={"name": "late"}).raise_for_status()
            [item] = upload(client, "late", [("depot.md", b"The depot opens at 6:45 on weekdays.")])
            assert wait_done(client, [item["id"]])[item["id"]]["status"] == "ready"
            found = client.post("/v1/search", json={"query": "When does the depot open?",
                                                    "collections": ["late"]}).json()  # fmt: skip
            assert found["results"][0]["document_id"] == item["id"]
            question = [{"role": "user", "content": "When does the depot open?"}]
            body = {"stream": False, "collections": ["late"], "messages": question}
            asked = client.post("/v1/chat", json=body)
            assert asked.status_code == 200, asked.text
            assert "6:45" in asked.json()["quote"][0]["text"]
        # /readyz was asked many times while Redis and the model were down: one traceback each
        for check in ("redis", "model"):
            assert api.log.read_text().count(f"readiness check {check} failed") == 1
            assert f"readiness check {check} passes again" in api.log.read_text()
    finally:
        for proc in (llm, api, worker, migrate, chroma, redis):
            proc.stop()
        cluster.close()
