"""`gptu mcp`: the MCP tools over stdio, talking to a gptu API with one user's key."""

from __future__ import annotations

import sys

from core.logs import setup_logging
from core.offline import quiet_libraries
from core.settings import Settings


def run_stdio(settings: Settings, url: str, key: str) -> int:
    """Serve until the MCP client closes stdin; exit code 2 without a key."""
    if not key:
        print("error: gptu mcp needs an API key: set GPTU_API_KEY or pass --key", file=sys.stderr)
        return 2
    setup_logging(settings.log_level, settings.log_format)  # stderr: stdout is the protocol's
    quiet_libraries()
    from gptu_client.client import AsyncGptu
    from gptu_client.mcp import build_server

    build_server(lambda ctx: AsyncGptu(url, key)).run("stdio")
    return 0
