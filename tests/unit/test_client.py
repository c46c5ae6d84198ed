"""gptu_client on its own: light to import, and it reads the API's errors and event streams."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from gptu_client import Done, Quotes, Sources, StreamError, Token, TooManyRequests, Unauthorized
from gptu_client.calls import EventReader
from gptu_client.errors import APIError, error_of
from tests.conftest import ROOT

SERVER = ("core", "ingest", "answer", "app", "worker", "slackbot", "api", "cli")
LIBRARIES = ("fastapi", "starlette", "sqlalchemy", "chromadb", "celery", "pydantic")
ADAPTERS = ("langchain_core", "mcp")


def test_importing_the_client_loads_no_server_package() -> None:
    probe = (
        "import sys\n"
        "import gptu_client, gptu_client.client, gptu_client.calls\n"
        f"ours = {set(SERVER + LIBRARIES + ADAPTERS)}\n"
        "loaded = {m.split('.')[0] for m in sys.modules} & ours\n"
        "assert not loaded, loaded\n"
        "assert 'httpx' in sys.modules\n"
        "print('light')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, env={"PATH": ""}
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "light"


def test_errors_carry_the_envelope_and_retry_after() -> None:
    envelope = {"error": {"code": "unauthorized", "message": "invalid or revoked API key"}}
    refused = error_of(httpx.Response(401, json=envelope))
    assert isinstance(refused, Unauthorized)
    assert (refused.status, refused.code, refused.message) == (401, *envelope["error"].values())
    assert refused.body == envelope
    slowed = error_of(httpx.Response(429, json=envelope, headers={"Retry-After": "7"}))
    assert isinstance(slowed, TooManyRequests) and slowed.retry_after == 7
    proxy = error_of(httpx.Response(502, text="<html>Bad gateway</html>"))
    assert type(proxy) is APIError
    assert (proxy.status, proxy.code, proxy.message) == (
        502,
        "http_502",
        "<html>Bad gateway</html>",
    )


def test_the_event_stream_reads_as_typed_events_and_raises_its_error() -> None:
    source = {"document_id": "d", "chunk": 0, "collection": "c", "filename": "f.md", "text": "t",
              "n": 1, "label": "f.md", "added_later": True}  # fmt: skip
    quote = {"n": 1, "label": "f.md", "filename": "f.md", "page": None, "text": "t"}
    wire = (
        f"event: sources\ndata: {json.dumps([source])}\n\n"
        f": a comment\nevent: quote\ndata: {json.dumps([quote])}\n\n"
        'event: token\ndata: {"text": "Hi"}\n\n'
        'event: done\ndata: {"answer": "Hi [1]",\ndata:  "citations": [1], "trace_id": "x"}\n\n'
    )
    reader = EventReader()
    events = [e for line in wire.split("\n") if (e := reader.feed(line)) is not None]
    assert [type(e) for e in events] == [Sources, Quotes, Token, Done]
    assert isinstance(events[0], Sources) and events[0].sources[0].id == "d:0"
    assert events[2] == Token("Hi") and events[3] == Done("Hi [1]", [1], "x")
    with pytest.raises(StreamError) as raised:
        for line in ("event: error", 'data: {"code": "model_busy", "message": "busy"}', ""):
            reader.feed(line)
    assert (raised.value.code, raised.value.message) == ("model_busy", "busy")
