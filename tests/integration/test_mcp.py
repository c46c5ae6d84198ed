"""The MCP tools over both transports, started from README's client entries and driven by the
official `mcp` client: stdio (`gptu mcp`) and streamable HTTP (`POST /mcp`), each checked
against the permission matrix (tests/world.py), plus what a bad key gets on each.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any
from urllib.parse import urlparse

import httpx
import httpx2
import pytest
from mcp import ClientSession, MCPError, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

from tests.conftest import ROOT, WRONG_KEY, readme_block
from tests.world import ALLOWED, QUESTION, SECRETS, USERS, World

Session = Callable[[str, str], AbstractAsyncContextManager[ClientSession]]


def readme_entry(marker: str) -> dict[str, Any]:
    """The `gptu` server entry of a JSON client configuration in README.md."""
    entry: dict[str, Any] = json.loads(readme_block(marker, "json"))["mcpServers"]["gptu"]
    return entry


@asynccontextmanager
async def over_stdio(url: str, key: str) -> AsyncIterator[ClientSession]:
    """README's stdio entry, run as this checkout's `gptu`, with the URL and key given."""
    entry = readme_entry("mcp-stdio-config")
    assert entry["command"].endswith("/gptu") and set(entry["env"]) == {
        "GPTU_API_URL", "GPTU_API_KEY"}  # fmt: skip
    env = {**entry["env"], "GPTU_API_URL": url, "GPTU_API_KEY": key, "GPTU_LOG_FORMAT": "text"}
    server = StdioServerParameters(
        command=sys.executable, args=["-m", "cli.main", *entry["args"]], env=env, cwd=ROOT
    )
    async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


@asynccontextmanager
async def over_http(url: str, key: str) -> AsyncIterator[ClientSession]:
    """README's HTTP entry, pointed at url (same path), its header carrying key."""
    entry = readme_entry("mcp-http-config")
    assert entry["type"] == "http"
    headers = {name: value.replace("gptu_…", key) for name, value in entry["headers"].items()}
    endpoint = url + urlparse(entry["url"]).path
    async with (
        httpx2.AsyncClient(headers=headers, timeout=300) as http,
        streamable_http_client(endpoint, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


TRANSPORTS: dict[str, Session] = {"stdio": over_stdio, "http": over_http}


def text_of(result: CallToolResult) -> str:
    """The text a model reads of a tool's result."""
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


def conversations(world: World, user: str) -> list[dict[str, Any]]:
    """The user's saved conversations."""
    headers = {"Authorization": f"Bearer {world.keys[user]}"}
    listed = httpx.get(f"{world.echo_url}/v1/conversations", headers=headers)
    listed.raise_for_status()
    saved: list[dict[str, Any]] = listed.json()
    return saved


def check_answer(world: World, user: str, asked: CallToolResult) -> None:
    """The echoed answer holds exactly the user's phrases; each source is one of the user's
    documents, quoted with its phrase; the text lists the sources after the answer."""
    answer = asked.structured_content
    assert not asked.is_error and world.phrases(answer["answer"]) == ALLOWED[user]
    sources = [s for s in answer["sources"] if world.ours(s["collection"])]
    assert sources and world.phrases(json.dumps(answer["sources"])) <= ALLOWED[user]
    for source in sources:
        short = source["collection"].removesuffix(f"-{world.tag}")
        assert short in ALLOWED[user] and SECRETS[short] in source["quote"]
        assert (source["filename"], source["document_id"]) == (
            world.files[short], world.documents[short])  # fmt: skip
    assert set(answer["citations"]) <= {s["n"] for s in answer["sources"]} and answer["trace_id"]
    text = text_of(asked)
    assert text.startswith(answer["answer"]) and "\n\nSources:\n[1] " in text


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
@pytest.mark.parametrize("user", USERS)
def test_the_tools_answer_only_from_what_the_key_may_read(
    world: World, transport: str, user: str
) -> None:
    allowed = {world.collections[s] for s in ALLOWED[user]}

    async def run() -> None:
        async with TRANSPORTS[transport](world.echo_url, world.keys[user]) as session:
            listed = await session.list_tools()
            assert {t.name for t in listed.tools} == {"search", "ask", "list_collections"}
            found = await session.call_tool("search", {"query": QUESTION, "k": 50})
            hits = [h for h in found.structured_content["results"] if world.ours(h["collection"])]
            assert not found.is_error and world.phrases(json.dumps(hits)) == ALLOWED[user]
            assert world.phrases(text_of(found)) == ALLOWED[user]
            assert {h["filename"] for h in hits} == {world.files[s] for s in ALLOWED[user]}
            named = await session.call_tool("list_collections", {})
            names = {c["name"] for c in named.structured_content["collections"]}
            assert {n for n in names if world.ours(n)} == allowed
            saved = len(conversations(world, user))
            asked = await session.call_tool("ask", {"question": QUESTION})
            check_answer(world, user, asked)
            assert len(conversations(world, user)) == saved  # traced, not saved

    asyncio.run(run())


def test_a_bad_key_gets_the_401_envelope_over_http_and_a_tool_error_over_stdio(
    world: World,
) -> None:
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    for headers in ({}, {"Authorization": f"Bearer {WRONG_KEY}"}):
        refused = httpx.post(f"{world.echo_url}/mcp", json=call, headers=headers)
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert refused.json()["error"]["code"] == "unauthorized"

    async def run() -> CallToolResult:
        with pytest.raises(ExceptionGroup) as failed:  # the SDK turns a 401 into an MCPError
            async with over_http(world.echo_url, WRONG_KEY):
                pass
        mcp_errors, others = failed.value.split(MCPError)
        assert mcp_errors is not None and others is None
        async with over_stdio(world.echo_url, WRONG_KEY) as session:
            return await session.call_tool("search", {"query": QUESTION})

    result = asyncio.run(run())
    assert result.is_error
    assert text_of(result).endswith("gptu refused (401 unauthorized): invalid or revoked API key")
