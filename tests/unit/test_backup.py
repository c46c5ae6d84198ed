"""The command lines backup and restore give pg_dump and pg_restore: never the password."""

from __future__ import annotations

import pytest
from psycopg.conninfo import conninfo_to_dict

from core.tools import libpq_conninfo, scrub

SECRET = "Zq9-hush"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://keeper:Zq9-hush%3Ap%40ss@db.example:5433/gptu?sslmode=require",
        "postgresql://keeper@db.example:5433/gptu?sslmode=require&password=Zq9-hush%3Ap%40ss",
        "host=db.example port=5433 user=keeper dbname=gptu sslmode=require "
        "password='Zq9-hush:p@ss'",
    ],
)
def test_the_password_moves_from_the_url_into_the_environment(url: str) -> None:
    conninfo, env = libpq_conninfo(url)
    assert SECRET not in conninfo
    assert env == {"PGPASSWORD": "Zq9-hush:p@ss"}
    assert conninfo_to_dict(conninfo) == {
        "host": "db.example", "port": "5433", "user": "keeper", "dbname": "gptu",
        "sslmode": "require",
    }  # fmt: skip


def test_a_url_without_a_password_adds_nothing_to_the_environment() -> None:
    conninfo, env = libpq_conninfo("postgresql://gptu@127.0.0.1:5432/gptu")
    assert env == {}
    assert conninfo_to_dict(conninfo) == {
        "host": "127.0.0.1", "port": "5432", "user": "gptu", "dbname": "gptu",
    }  # fmt: skip


def test_scrub_removes_the_password_and_urls_but_keeps_the_message() -> None:
    said = (
        'pg_dump: error: invalid connection "postgresql://keeper:Zq9-hush%3Ap%40ss@db/gptu": '
        "password Zq9-hush:p@ss, options password=Zq9-hush:p@ss and password='Zq9-hush:p@ss'"
    )
    cleaned = scrub(said, "Zq9-hush:p@ss")
    assert SECRET not in cleaned
    assert cleaned.startswith("pg_dump: error: invalid connection")
