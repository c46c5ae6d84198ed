"""MCP over streamable HTTP at `/mcp`: the tools of `gptu_client.mcp`, as the key's user.

The tools reach retrieval and answering through this very API, in process (an ASGI transport,
no socket), signed in with the key of the MCP request: permissions, the model's queue, traces
and errors are those of `/v1/search`, `/v1/chat` and `/v1/collections`, by construction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
from fastapi import APIRouter, Request, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth import CurrentUser
from core.logs import request_id

if TYPE_CHECKING:
    from mcp.server.mcpserver import Context, MCPServer
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

    from gptu_client.client import AsyncGptu

router = APIRouter(tags=["mcp"])
SELF = "http://gptu.internal"  # the base URL of in-process calls (never resolved)
JSON_RPC = {"application/json": {"schema": {"type": "object"}}}


class Handover(Response):
    """The response the MCP session manager writes itself (it reads the request's body)."""

    def __init__(self, manager: StreamableHTTPSessionManager) -> None:
        super().__init__()
        self.manager = manager

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.manager.handle_request(scope, receive, send)


@router.post(
    "/mcp",
    summary="MCP tools (streamable HTTP)",
    response_class=Response,
    responses={200: {"description": "A JSON-RPC response (MCP).", "content": JSON_RPC}},
    openapi_extra={"requestBody": {"required": True, "content": JSON_RPC}},
)
async def mcp(request: Request, _: CurrentUser) -> Response:
    """Model Context Protocol, streamable HTTP (stateless, JSON responses): the tools `search`,
    `ask` and `list_collections`, answered from the documents you may read."""
    server: MCPServer = request.app.state.mcp
    return Handover(server.session_manager)


def bearer(authorization: str) -> str:
    """The key of an `Authorization: Bearer <key>` header ('' without one)."""
    scheme, _, key = authorization.partition(" ")
    return key.strip() if scheme.lower() == "bearer" else ""


def in_process(app: ASGIApp, ctx: Context) -> AsyncGptu:
    """A client of this API in process, signed in with the key of the tool call's request."""
    from mcp.server.mcpserver.exceptions import ToolError

    from gptu_client.client import AsyncGptu

    request: Any = ctx.request_context.request
    key = bearer((ctx.headers or {}).get("authorization", ""))
    if not key:  # never the process's own GPTU_API_KEY
        raise ToolError("send an API key as 'Authorization: Bearer <key>'")
    peer = request.client if request is not None and request.client else None
    client = (peer.host, peer.port) if peer else ("127.0.0.1", 0)
    transport = httpx.ASGITransport(app=app, client=client, raise_app_exceptions=False)
    gptu = AsyncGptu(SELF, key, transport=transport)
    if given := request_id.get():  # the routes' log lines share the MCP request's id
        gptu.http.headers["X-Request-ID"] = given
    return gptu


def tool_server(app: ASGIApp) -> MCPServer:
    """The MCP tools over this API, with a stateless session manager (run it in the lifespan).

    Stateless: any replica behind a load balancer answers any request. No DNS-rebinding check:
    every request must carry a valid key, which a rebinding page cannot have.
    """
    from mcp.server.transport_security import TransportSecuritySettings

    from gptu_client.mcp import build_server

    server = build_server(lambda ctx: in_process(app, ctx))
    server.streamable_http_app(
        stateless_http=True,
        json_response=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    return server
