"""The MCP tools `search`, `ask` and `list_collections` over a gptu API (needs mcp).

One set of tools for every transport: each call asks `connect(ctx)` for an `AsyncGptu` signed
in with the caller's key and goes through the v1 API, so the server decides what the caller
may read. `gptu mcp` connects to a URL with one key (stdio); the API's `/mcp` route connects
to itself, in process, with the key of each HTTP request.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field
from typing_extensions import TypedDict

from gptu_client.client import AsyncGptu
from gptu_client.errors import APIError, GptuError
from gptu_client.models import Answer, Passage, Source

Connect = Callable[[Context], AsyncGptu]
INSTRUCTIONS = (
    "gptu answers from an organisation's own documents, limited to what your API key's user "
    "may read. `search` finds passages (file, page, text); `ask` answers a question with "
    "numbered citations [n] and its sources; `list_collections` names the collections."
)
QUOTE_CHARS = 300
READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
Collections = Annotated[
    list[str] | None,
    Field(description="Collection names to search; default every one you may read."),
]


class Hit(TypedDict):
    """A passage found by search."""

    filename: str
    page: int | None
    section: str | None
    collection: str
    document_id: str
    text: str
    score: float


class SearchResult(TypedDict):
    """Passages, best first."""

    results: list[Hit]


class Cited(TypedDict):
    """A source of an answer: where it is, and the words that support the answer."""

    n: int
    filename: str
    page: int | None
    collection: str
    document_id: str
    quote: str


class AskResult(TypedDict):
    """An answer citing its sources as [n]."""

    answer: str
    citations: list[int]
    sources: list[Cited]
    trace_id: str | None


class CollectionInfo(TypedDict):
    """A collection and what you may do with it (documents: None when you may not read it)."""

    name: str
    documents: int | None
    read: bool
    write: bool


class CollectionList(TypedDict):
    """The collections you may read or add to."""

    collections: list[CollectionInfo]


def refusal(exc: GptuError) -> ToolError:
    """A tool error a person (or a model) can act on."""
    if isinstance(exc, APIError):
        return ToolError(f"gptu refused ({exc.status} {exc.code}): {exc.message}")
    return ToolError(exc.message)


def where(filename: str, page: int | None) -> str:
    """'file, p. 3'."""
    return filename if page is None else f"{filename}, p. {page}"


def excerpt(text: str) -> str:
    """The start of a passage, cut at a word, for a source without a quote."""
    text = " ".join(text.split())
    return text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS].rsplit(" ", 1)[0] + " …"


def hits(found: list[Passage]) -> CallToolResult:
    """Search results as text for the model and as structured content."""
    results = [
        Hit(
            filename=p.filename,
            page=p.page,
            section=p.section,
            collection=p.collection,
            document_id=p.document_id,
            text=p.text,
            score=p.score,
        )
        for p in found
    ]
    text = "\n\n".join(
        f"[{i}] {where(p.filename, p.page)} ({p.collection})\n{p.text}"
        for i, p in enumerate(found, start=1)
    )
    structured = SearchResult(results=results)
    return CallToolResult(
        content=[TextContent(type="text", text=text or "No passages found.")],
        structured_content=dict(structured),
    )


def cited(source: Source, answer: Answer) -> Cited:
    """A source with its quote (the verbatim best sentences, else the passage's start)."""
    quote = next((q.text for q in answer.quote if q.n == source.n), excerpt(source.text))
    return Cited(
        n=source.n,
        filename=source.filename,
        page=source.page,
        collection=source.collection,
        document_id=source.document_id,
        quote=quote,
    )


def answered(answer: Answer) -> CallToolResult:
    """An answer as text (the answer, then its numbered sources) and as structured content."""
    sources = [cited(s, answer) for s in answer.sources]
    lines = [answer.answer]
    if sources:
        lines.append("\nSources:")
        lines += [f'[{s["n"]}] {where(s["filename"], s["page"])}: "{s["quote"]}"' for s in sources]
    structured = AskResult(
        answer=answer.answer, citations=answer.citations, sources=sources, trace_id=answer.trace_id
    )
    return CallToolResult(
        content=[TextContent(type="text", text="\n".join(lines))],
        structured_content=dict(structured),
    )


def build_server(connect: Connect) -> MCPServer:
    """The MCP server with the three tools, each reaching gptu through connect(ctx)."""
    server = MCPServer("gptu", instructions=INSTRUCTIONS)

    async def search(
        query: Annotated[str, Field(min_length=1, description="What to look for.")],
        ctx: Context,
        k: Annotated[int, Field(ge=1, le=50, description="Passages to return.")] = 5,
        collections: Collections = None,
    ) -> Annotated[CallToolResult, SearchResult]:
        """Search the organisation's documents (vector and keyword search fused); passages
        best first with file, page and collection."""
        try:
            async with connect(ctx) as gptu:
                return hits(await gptu.search(query, k=k, collections=collections))
        except GptuError as exc:
            raise refusal(exc) from exc

    async def ask(
        question: Annotated[str, Field(min_length=1, description="The question.")],
        ctx: Context,
        collections: Collections = None,
    ) -> Annotated[CallToolResult, AskResult]:
        """Answer a question from the organisation's documents, citing sources as [n]; each
        source comes with file, page and the quoted words. Says so when the documents do not
        hold the answer."""
        try:
            async with connect(ctx) as gptu:
                # an agent's tool call is no conversation of the user's: traced, not saved
                return answered(await gptu.chat(question, collections=collections, save=False))
        except GptuError as exc:
            raise refusal(exc) from exc

    async def list_collections(ctx: Context) -> Annotated[CallToolResult, CollectionList]:
        """The document collections you may read or add to, with their document counts."""
        try:
            async with connect(ctx) as gptu:
                found = await gptu.list_collections()
        except GptuError as exc:
            raise refusal(exc) from exc
        infos = [
            CollectionInfo(
                name=c.name, documents=c.documents, read=c.access.read, write=c.access.write
            )
            for c in found
        ]
        text = "\n".join(
            f"{c['name']} ({c['documents']} documents)" if c["read"] else f"{c['name']} (add only)"
            for c in infos
        )
        return CallToolResult(
            content=[TextContent(type="text", text=text or "No collections.")],
            structured_content=dict(CollectionList(collections=infos)),
        )

    for tool in (search, ask, list_collections):
        server.add_tool(
            tool, description=inspect.cleandoc(tool.__doc__ or ""), annotations=READ_ONLY
        )
    return server
