"""The official openai client, unchanged, against /v1; and a real llama_cpp.server as remote."""

from __future__ import annotations

import subprocess
import sys
import threading

import httpx
import openai
import pytest

from answer.llm import RemoteLLM
from cli.localstack import free_port, wait_until
from core.models import model_file, resolve
from tests.conftest import ROOT, Stack
from tests.integration.test_chat import facts  # noqa: F401  (module fixture)

QUESTION = "When does the Zorblat office open on Mondays?"


@pytest.fixture
def client(stack: Stack) -> openai.OpenAI:
    """The openai client pointed at gptu."""
    return openai.OpenAI(
        base_url=f"{stack.api_url}/v1", api_key=stack.env["GPTU_ADMIN_TOKEN"], max_retries=0
    )


def test_models_and_completion(client: openai.OpenAI, facts: str) -> None:  # noqa: F811
    models = client.models.list()
    assert [m.id for m in models.data] == ["smollm2-135m"]
    reply = client.chat.completions.create(
        model="smollm2-135m",
        messages=[{"role": "user", "content": QUESTION}],
        extra_body={"collections": [facts]},
    )
    assert reply.choices[0].message.content
    extra = reply.model_extra or {}
    assert extra["sources"][0]["filename"] == "hours.md"
    assert reply.usage is not None and reply.usage.prompt_tokens > 0


def test_streaming_completion(client: openai.OpenAI, facts: str) -> None:  # noqa: F811
    stream = client.chat.completions.create(
        model="smollm2-135m",
        messages=[{"role": "user", "content": QUESTION}],
        stream=True,
        extra_body={"collections": [facts]},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text.strip()
    assert (chunks[0].model_extra or {})["sources"]
    assert chunks[-1].choices[0].finish_reason == "stop"


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"n": 2}, "n must be 1"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
        ({"logprobs": True}, "logprobs"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "user", "content": "   "}]}, "non-blank"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "role"),
    ],
)
def test_bad_requests_get_openai_shaped_400s(stack: Stack, extra: dict, fragment: str) -> None:
    body = {"model": "smollm2-135m", "messages": [{"role": "user", "content": QUESTION}], **extra}
    url = f"{stack.api_url}/v1/chat/completions"
    answer = httpx.post(url, json=body, headers=stack.headers(), timeout=60)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error" and fragment in error["message"]


def test_openai_client_raises_on_bad_request(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model="smollm2-135m", messages=[{"role": "user", "content": "hi"}], n=3
        )


def test_remote_adapter_against_a_real_llama_cpp_server(tmp_path: object) -> None:
    path = model_file(resolve("smollm2-135m", ROOT / "data" / "models"), ROOT / "data" / "models")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(path), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "2048", "--model_alias", "smollm2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/v1"
        wait_until(lambda: httpx.get(f"{url}/models").status_code == 200, 90, "llama_cpp.server")
        llm = RemoteLLM(url, "smollm2", 2048)
        messages = [{"role": "user", "content": "Say hello."}]
        pieces = list(llm.stream(messages, 16, 0.1, threading.Event()))
        assert "".join(pieces).strip()
    finally:
        server.terminate()
        server.wait(timeout=30)
