"""Waiting at start for a server that is not up yet, so the services start in any order.

An orchestrator (compose, Kubernetes, honcho) may start the API or a worker before Redis,
Chroma or the database answer; each process waits for what it needs, saying what and where,
instead of exiting on the first refused connection.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError, OperationalError

from core.errors import GptuError, ServiceUnavailable

T = TypeVar("T")
log = logging.getLogger("gptu.start")
SAY_EVERY = 15.0  # seconds between "still waiting" lines
LONGEST_PAUSE = 5.0


# What a server that is not up yet raises: refused or unresolved connections (OSError), the
# database driver's OperationalError, and chromadb's "Could not connect" (a ValueError).
NOT_UP: tuple[type[BaseException], ...] = (OSError, OperationalError, InterfaceError, ValueError)


def wait_for(
    what: str,
    attempt: Callable[[], T],
    timeout: float,
    not_up: tuple[type[BaseException], ...] = NOT_UP,
) -> T:
    """Call `attempt` until it returns, for up to `timeout` seconds (0: once); return its value.

    Only errors of the `not_up` kinds are waited out, with a growing pause, logged on the first
    failure and then every 15 s; after `timeout` they become ServiceUnavailable naming `what`
    and the last error. Any other error (a bug, an old schema) passes at once: waiting would
    only hide it.
    """
    started = time.monotonic()
    pause, said = 0.25, -SAY_EVERY
    while True:
        try:
            value = attempt()
        except GptuError:
            raise
        except not_up as exc:
            waited = time.monotonic() - started
            reason = " ".join(str(exc).split())[:200] or type(exc).__name__
            if waited >= timeout:
                raise ServiceUnavailable(
                    f"gave up waiting for {what} after {waited:.0f} s: {reason}"
                ) from exc
            if waited - said >= SAY_EVERY:
                log.warning("waiting for %s (%.0f s so far): %s", what, waited, reason)
                said = waited
            time.sleep(min(pause, max(0.05, timeout - waited)))
            pause = min(pause * 2, LONGEST_PAUSE)
            continue
        if time.monotonic() - started > 1:
            log.info("%s answers; going on", what)
        return value


def database_name(url: str) -> str:
    """The database as a person names it, without its password: 'PostgreSQL at host:port'."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"the SQLite database {parsed.database}"
    return f"PostgreSQL at {parsed.host}:{parsed.port or 5432}"
