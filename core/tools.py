"""Programs gptu runs that are not Python packages: found on PATH or where Debian puts them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

from core.errors import GptuError

HIDDEN = "***"
URL_CREDENTIALS = re.compile(r"(postgres(?:ql)?(?:\+\w+)?://[^:/@\s]*):[^@\s]*@")
PASSWORD_OPTION = re.compile(r"""password\s*=\s*(?:'(?:[^'\\]|\\.)*'|[^\s'"]+)""")


class ToolFailed(GptuError):
    """A program gptu runs (pg_dump, pg_restore) failed; the message holds what it said."""

    code = "tool_failed"


def postgres_tool(name: str) -> str:
    """A PostgreSQL program (initdb, pg_ctl, pg_dump, pg_restore): on PATH or in Debian's
    versioned folder (the newest version first)."""
    found = shutil.which(name)
    if found:
        return found
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / name).exists():
            return str(folder / name)
    raise FileNotFoundError(
        f"{name} not found: `apt-get install postgresql` (or use SQLite, the default)"
    )


def libpq_conninfo(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL (or conninfo) as a conninfo without its password, and the environment that
    carries the password (PGPASSWORD): anyone on the machine may read a command line in `ps`."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(url)
    password = params.pop("password", None)
    return make_conninfo("", **params), {"PGPASSWORD": str(password)} if password else {}


def scrub(text: str, password: str | None) -> str:
    """text with the password (as given or URL-encoded) and any URL's credentials hidden."""
    if password:
        for form in (password, quote(password, safe=""), quote(password)):
            text = text.replace(form, HIDDEN)
    text = URL_CREDENTIALS.sub(rf"\1:{HIDDEN}@", text)
    return PASSWORD_OPTION.sub(f"password={HIDDEN}", text)


def run_postgres_tool(name: str, url: str, *args: str, timeout: float = 3600) -> None:
    """Run pg_dump or pg_restore on the database at url, its password in the environment only;
    ToolFailed with the program's own error output (the password hidden) when it fails."""
    conninfo, secret = libpq_conninfo(url)
    argv = [postgres_tool(name), f"--dbname={conninfo}", *args]
    try:
        done = subprocess.run(
            argv, env=os.environ | secret, capture_output=True, text=True, errors="replace",
            timeout=timeout, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise ToolFailed(f"{name} did not finish within {timeout:.0f} seconds") from None
    if done.returncode:
        said = scrub(done.stderr.strip(), secret.get("PGPASSWORD")) or "no error output"
        raise ToolFailed(f"{name} failed (exit status {done.returncode}): {said}")
