"""A folder on the server (a mounted file share): every readable file under it, recursively.

The worker reads it, so the path is the worker's: in containers, a volume mounted into the
worker. Only an admin may add one (it reads whatever the worker can read there).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from functools import partial
from pathlib import Path

from pydantic import Field, field_validator

from ingest.parse import extension, is_supported
from sources.base import Entry, ItemError, Kind, Scan, Settings, SourceError, bounded


class FolderSettings(Settings):
    """Where the folder is on the worker's machine."""

    path: Path = Field(description="the folder's absolute path, as the worker sees it")
    max_files: int = Field(20000, ge=1, description="the most files listed in one sync")

    @field_validator("path")
    @classmethod
    def absolute(cls, value: Path) -> Path:
        """A relative path would depend on the worker's working folder."""
        if not value.is_absolute():
            raise ValueError("give the folder as an absolute path (as the worker sees it)")
        return value


class FolderConnector:
    """Lists a folder tree; a file's version is its modification time and size."""

    def __init__(self, settings: FolderSettings) -> None:
        self.root = settings.path
        self.max_files = settings.max_files

    def entries(self, scan: Scan) -> Iterator[Entry]:
        """Every supported, non-hidden regular file under the folder."""
        if not self.root.is_dir():
            raise SourceError(f"the folder {self.root} does not exist on the worker's machine")
        skipped = listed = 0
        for path in walk(self.root):
            name = path.relative_to(self.root).as_posix()
            if not is_supported(name):
                skipped += 1
                continue
            if listed >= self.max_files:
                scan.complete = False
                scan.notes.append(f"stopped at {self.max_files} files (max_files)")
                return
            try:
                stat = path.stat()
            except OSError:
                continue  # removed while listed
            listed += 1
            yield Entry(
                key=name,
                version=f"{stat.st_mtime_ns}:{stat.st_size}",
                label=name,
                parse_as=extension(name),
                read=partial(read_file, path, name, scan.max_bytes),
                size=stat.st_size,
            )
        if skipped:
            scan.notes.append(f"{skipped} file(s) of types gptu does not read were skipped")


def walk(root: Path) -> Iterator[Path]:
    """Regular files under root, hidden files and folders left out, in a stable order."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                path = Path(folder) / name
                if path.is_file():
                    yield path


def read_file(path: Path, name: str, limit: int) -> bytes:
    """The file's bytes, at most limit."""
    try:
        with path.open("rb") as handle:
            return bounded(handle.read, limit, name)
    except OSError as exc:
        raise ItemError(f"{name} cannot be read: {exc.strerror or exc}") from None


def make(settings: FolderSettings, secrets: Mapping[str, str]) -> FolderConnector:
    """A folder connector (no secrets)."""
    return FolderConnector(settings)


KIND = Kind(
    name="folder",
    summary="A folder on the server, e.g. a mounted file share (admins only)",
    settings=FolderSettings,
    secrets=(),
    make=make,
    admin_only=True,
)
