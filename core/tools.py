"""Programs gptu runs that are not Python packages: found on PATH or where Debian puts them."""

from __future__ import annotations

import shutil
from pathlib import Path


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
