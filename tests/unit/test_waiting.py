"""wait_for: the start of the API, a worker and `gptu migrate` in any order."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest

from core.errors import SchemaOutdated, ServiceUnavailable
from core.waiting import database_name, wait_for


def failing(times: int, error: Exception) -> tuple[list[float], Callable[[], str]]:
    calls: list[float] = []

    def attempt() -> str:
        calls.append(time.monotonic())
        if len(calls) <= times:
            raise error
        return "up"

    return calls, attempt


def test_a_server_that_comes_up_is_waited_for_and_named_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls, attempt = failing(3, ConnectionRefusedError("[Errno 111] Connection refused"))
    with caplog.at_level(logging.INFO, "gptu.start"):
        assert wait_for("Chroma at chroma:8000", attempt, timeout=30) == "up"
    assert len(calls) == 4
    said = [r.getMessage() for r in caplog.records]
    assert said[0].startswith("waiting for Chroma at chroma:8000 (0 s so far):")
    assert "Connection refused" in said[0]
    assert said[-1] == "Chroma at chroma:8000 answers; going on"
    assert len([s for s in said if s.startswith("waiting")]) == 1  # not a line per try


def test_a_server_that_never_comes_gives_a_reason_after_the_timeout() -> None:
    calls, attempt = failing(10**6, OSError('could not translate host name "postgres"'))
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as caught:
        wait_for("PostgreSQL at postgres:5432", attempt, timeout=1.5)
    took = time.monotonic() - started
    assert 1.5 <= took < 3
    assert caught.value.message.startswith("gave up waiting for PostgreSQL at postgres:5432 after")
    assert 'could not translate host name "postgres"' in caught.value.message
    assert 3 <= len(calls) < 12  # growing pauses, not a busy loop


def test_our_own_errors_are_decisions_and_pass_at_once() -> None:
    calls, attempt = failing(1, SchemaOutdated("the schema is older: run gptu migrate"))
    with pytest.raises(SchemaOutdated):
        wait_for("the database", attempt, timeout=30)
    assert len(calls) == 1


def test_no_timeout_tries_once() -> None:
    calls, attempt = failing(1, ConnectionRefusedError("refused"))
    with pytest.raises(ServiceUnavailable):
        wait_for("Redis", attempt, timeout=0)
    assert len(calls) == 1


def test_a_database_is_named_without_its_password() -> None:
    url = "postgresql+psycopg://gptu:s3cret@postgres:5432/gptu"
    assert database_name(url) == "PostgreSQL at postgres:5432"
    assert database_name("sqlite:///data/gptu.db") == "the SQLite database data/gptu.db"


def test_an_error_that_is_no_outage_passes_at_once() -> None:
    # A Postgres created as SQL_ASCII made SQLAlchemy raise this TypeError on every connect;
    # it was waited out for five minutes as if the server were down.
    calls, attempt = failing(1, TypeError("cannot use a string pattern on a bytes-like object"))
    with pytest.raises(TypeError):
        wait_for("PostgreSQL at postgres:5432", attempt, timeout=30)
    assert len(calls) == 1
