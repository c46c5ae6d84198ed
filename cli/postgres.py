"""A private PostgreSQL cluster on a free port in a folder (tests, benchmarks): no root needed.

As root (CI containers) the server runs as the `postgres` user, since PostgreSQL refuses root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cli.binaries import postgres_tool

USER = "gptu"


@dataclass
class Postgres:
    """One cluster: its data folder, port and the URL of its `gptu` database."""

    data: Path
    port: int
    as_user: list[str]

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the gptu database."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/gptu"

    def ctl(self, *args: str) -> None:
        """Run pg_ctl on the cluster."""
        subprocess.run(
            [*self.as_user, postgres_tool("pg_ctl"), "-D", str(self.data), "-w", *args],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip

    def start(self) -> None:
        """Start the server, listening on 127.0.0.1 only; wait until it accepts connections."""
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.ctl("-l", str(self.data / "server.log"), "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (fast: roll back open transactions, close connections)."""
        self.ctl("-m", mode, "stop")

    def close(self) -> None:
        """Stop the server and remove its data (a throwaway cluster)."""
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.data.parent, ignore_errors=True)

    def restart(self) -> None:
        """Stop and start again: every open connection is cut."""
        self.stop()
        self.start()


def start_postgres(folder: Path, port: int) -> Postgres:
    """initdb a cluster in folder (as root: in a temporary folder the postgres user owns), start
    it on port and create the `gptu` database; `close()` removes it."""
    as_user: list[str] = []
    if os.geteuid() == 0:  # the postgres user may not enter root's folders (pytest's tmp)
        folder = Path(tempfile.mkdtemp(prefix="gptu-postgres-"))
        shutil.chown(folder, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data = folder / "pgdata"
    data.mkdir(parents=True)
    if as_user:
        shutil.chown(data, "postgres")
    subprocess.run(
        [*as_user, postgres_tool("initdb"), "-D", str(data), "-U", USER, "--auth=trust",
         "-E", "UTF8", "--locale=C"],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    cluster = Postgres(data, port, as_user)
    cluster.start()
    import psycopg

    with psycopg.connect(
        f"host=127.0.0.1 port={port} user={USER} dbname=postgres", autocommit=True
    ) as conn:
        conn.execute("CREATE DATABASE gptu")
    return cluster
