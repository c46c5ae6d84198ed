"""`gptu tune` end to end: a collection (real SQLite, Chroma server, MiniLM, lexical index)
→ a teacher behind GPTU_LLM_URL (an OpenAI-style server we own) → LoRA in .venv-tune →
Q4_0 GGUF → measured → registered → served by the API (to readers of its collection; others get
its base). Killed mid-training, the run registers nothing and `--resume` finishes it. About 2
minutes on 2 busy cores: marked slow."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest
from llama_cpp import Llama
from sqlalchemy import select

from app.services import build_services
from cli.localstack import GPTU, ROOT, Process, free_port, wait_until
from core.db import Collection, Database
from core.models import TUNED, model_file, resolve, tuned_models
from core.settings import Settings
from tests.isolated.test_operate import redis_url, serving  # noqa: F401 (a fixture)
from tests.isolated.test_tune import MODELS, load, reply_logprob
from tests.isolated.test_tunedata import PLACES, Teacher, ingest, policy
from tests.servers import Recorder

ADMIN = "tune-admin-0123456789"  # GPTU_ADMIN_TOKEN of the API serving the tuned model
OTHERS = [  # `--questions`: about `policies`, worded unlike the teacher's, and a near-miss
    {"question": "What time does Kelso's office open on weekdays?",
     "expected_answer": "The Kelso office opens at 2:15 on weekdays.", "answerable": True},
    {"question": "Which floor is the Harrow badge desk on?",
     "expected_answer": "The Harrow badge desk is on floor 3.", "answerable": True},
    {"question": "When does the Lisbon office open?", "answerable": False},
]  # fmt: skip


class TeacherHandler(BaseHTTPRequestHandler):
    """POST /chat/completions (stream): the Teacher's reply as one SSE chunk."""

    teacher = Teacher()

    def log_message(self, *args: Any) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        """Answer in the OpenAI streaming format."""
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
        text = "".join(self.teacher.stream(body["messages"], 160, 0.2, threading.Event()))
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        chunk = {"choices": [{"index": 0, "delta": {"content": text}}]}
        self.wfile.write(f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode())


@pytest.fixture(scope="module")
def deployment_env(
    tmp_path_factory: pytest.TempPathFactory,
    redis_url: str,  # noqa: F811
) -> Iterator[dict[str, str]]:
    """GPTU_* settings of a data folder whose collection `policies` holds 30 one-fact files
    (embedded with MiniLM, as the product does), and a teacher server."""
    tmp = tmp_path_factory.mktemp("tune")
    teacher = Recorder(TeacherHandler)
    with serving(tmp / "chroma", "chroma") as served:
        settings = Settings(data_dir=tmp / "data", redis_url=redis_url,
                            chroma_port=int(served["GPTU_CHROMA_PORT"]))  # fmt: skip
        services = build_services(settings)
        files = {f"{'wrong' if i % 10 == 9 else 'office'}-{p.lower()}.md": policy(p, i)
                 for i, p in enumerate(PLACES)}  # fmt: skip
        ingest(services, settings, "policies", files)
        clean = {k: v for k, v in os.environ.items() if not k.startswith("GPTU_")}
        yield {**clean, "GPTU_DATA_DIR": str(settings.data_dir), "GPTU_REDIS_URL": redis_url,
               "GPTU_CHROMA_PORT": served["GPTU_CHROMA_PORT"], "GPTU_LLM_URL": teacher.url,
               "GPTU_MODEL_CACHE": str(MODELS), "GPTU_LLM_THREADS": "1"}  # fmt: skip
    teacher.stop()


def tune(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """`gptu tune …` in its own process group (so a test can kill it with its trainer)."""
    return subprocess.Popen([*GPTU, "tune", *args], env=env, cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip


@pytest.mark.slow
def test_a_killed_tune_registers_nothing_and_resumes_to_a_measured_model(
    deployment_env: dict[str, str],
) -> None:
    data = Path(deployment_env["GPTU_DATA_DIR"])
    others = data.parent / "others.jsonl"  # questions the teacher did not write
    others.write_text("".join(json.dumps(q) + "\n" for q in OTHERS))
    first = tune(deployment_env, "--collection", "policies", "--steps", "4", "--batch", "2",
                 "--threads", "1", "--name", "policies-tiny",
                 "--questions", str(others))  # fmt: skip
    checkpoint = lambda: next(data.glob("tune/*/train/checkpoint.pt"), None)  # noqa: E731
    wait_until(lambda: checkpoint() is not None or first.poll() is not None, 300, "a step")
    os.killpg(first.pid, signal.SIGKILL)  # gptu and its trainer, mid-run
    first.wait()
    assert not (data / "models" / TUNED).exists()  # a broken run registers nothing
    (run,) = [p.name for p in (data / "tune").iterdir()]
    data_report = json.loads((data / "tune" / run / "data.json").read_text())
    assert data_report["synthetic"] == 27 and data_report["examples_per_s"] > 0

    started = time.monotonic()
    done = tune(deployment_env, "--resume", run)
    out, _ = done.communicate(timeout=600)
    assert done.returncode == 0, out
    assert "resuming training at step" in out
    assert "answer_correct" in out and "GPTU_MODEL=policies-tiny" in out
    spec = tuned_models(data / "models")["policies-tiny"]
    assert spec.tuned["collections"] == ["policies"] and spec.tuned["steps"] == 4
    with Database(Settings(data_dir=data).sqlalchemy_url).session() as session:
        policies = session.scalar(select(Collection.id).where(Collection.name == "policies"))
    assert spec.tuned["collection_ids"] == [policies]  # who may use it: by id, not by name
    assert set(spec.tuned["scores"]) == {"base", "tuned"}
    assert spec.tuned["scores"]["tuned"]["questions"] == data_report["held_out"]
    # and on the questions written by others, kept beside them, tuned minus base with its noise
    by_others = spec.tuned["scores_others"]
    assert by_others["file"] == "others.jsonl" and by_others["base"]["questions"] == 3
    assert by_others["tuned"]["abstention"] is not None
    assert by_others["difference"]["answer_correct"]["questions"] == 2
    assert "questions written by others (others.jsonl, 3)" in out
    assert spec.path and Path(spec.path).is_file()
    assert not (data / "tune" / run / "train" / "merged.f32.gguf").exists()
    print(f"resumed run: {time.monotonic() - started:.0f} s")

    # the model gptu serves for GPTU_MODEL=policies-tiny, moved towards its training answers
    served = subprocess.run([*GPTU, "models", "path"], env={**deployment_env,
                            "GPTU_MODEL": "policies-tiny"}, cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.strip()  # fmt: skip
    assert served == spec.path
    lines = (data / "tune" / run / "train.jsonl").read_text().splitlines()
    examples = [json.loads(line)["messages"] for line in lines]
    tuned: Llama = load(Path(spec.path))
    original = load(model_file(resolve("smollm2-135m", MODELS), MODELS))
    gains = [reply_logprob(tuned, m[:-1], m[-1]["content"])
             - reply_logprob(original, m[:-1], m[-1]["content"]) for m in examples[:4]]  # fmt: skip
    assert sum(gains) / len(gains) > 0.1, gains
    del tuned, original

    # served: the admin (who reads `policies`) gets the tuned model, an outsider its base
    env = {k: v for k, v in deployment_env.items() if k != "GPTU_LLM_URL"}
    env.update(GPTU_MODEL="policies-tiny", GPTU_PORT=str(free_port()), GPTU_ADMIN_TOKEN=ADMIN)
    api = Process([*GPTU, "serve"], env, data / "api.log")
    api.start()
    url = f"http://127.0.0.1:{env['GPTU_PORT']}"
    try:
        up = lambda: api.proc.poll() is not None or httpx.get(f"{url}/readyz").is_success  # noqa: E731
        wait_until(up, 180, "API ready")
        assert api.proc.poll() is None, (data / "api.log").read_text()[-2000:]
        with httpx.Client(base_url=url, timeout=300) as http:
            admin = {"authorization": f"Bearer {ADMIN}"}
            question = {
                "messages": [{"role": "user", "content": "When does the Quimby office open?"}]
            }
            answered = http.post("/v1/chat/completions", json=question, headers=admin).json()
            assert answered["model"] == "policies-tiny", answered
            assert answered["choices"][0]["message"]["content"].strip()
            assert "office-quimby.md" in {s["filename"] for s in answered["sources"]}
            http.post("/v1/users", json={"name": "outsider"}, headers=admin).raise_for_status()
            key = http.post("/v1/users/outsider/keys", headers=admin).json()["key"]
            outsider = {"authorization": f"Bearer {key}"}
            listed = http.get("/v1/models", headers=outsider).json()["data"]
            assert [m["id"] for m in listed] == ["smollm2-135m"]
            theirs = http.post("/v1/chat/completions", json=question, headers=outsider).json()
            assert theirs["model"] == "smollm2-135m" and not theirs["sources"], theirs
    finally:
        api.stop()
