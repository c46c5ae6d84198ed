"""Where uploaded files live, by sha256: one small interface, a local folder behind it.

APIs write files and workers read them, so with several machines the store must be shared: a
shared disk for `LocalFiles` today; an S3-compatible store can implement the same six methods
(its `local` would download to a cache) without any caller changing.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Protocol

COPY_BLOCK = 1 << 20
PARTIAL = ".upload-"


class FileStore(Protocol):
    """Stored files, named by the sha256 of their bytes."""

    def put(self, stream: IO[bytes], max_bytes: int) -> tuple[str, int] | None:
        """Store the stream; (sha256, size), or None (nothing kept) when over max_bytes."""
        ...

    def local(self, sha: str) -> Path:
        """A local path to read the file from (a remote store fetches it first)."""
        ...

    def exists(self, sha: str) -> bool:
        """Whether the file is stored."""
        ...

    def delete(self, name: str) -> None:
        """Remove a stored file (or an upload's leftover); gone already is fine."""
        ...

    def names(self, older_than: float) -> Iterator[str]:
        """Stored files and upload leftovers last written more than older_than seconds ago."""
        ...

    def modified(self, name: str) -> float | None:
        """When the file was last written (epoch seconds), None when it is not there."""
        ...


class LocalFiles:
    """`FileStore` in a folder: files/<sha256>, written through a temporary file and a rename."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def put(self, stream: IO[bytes], max_bytes: int) -> tuple[str, int] | None:
        """Copy the stream, hashing as it goes; stop (keeping nothing) past max_bytes."""
        self.folder.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        fd, partial = tempfile.mkstemp(dir=self.folder, prefix=PARTIAL)
        try:
            with os.fdopen(fd, "wb") as out:
                while block := stream.read(COPY_BLOCK):
                    size += len(block)
                    if size > max_bytes:
                        Path(partial).unlink(missing_ok=True)
                        return None
                    digest.update(block)
                    out.write(block)
            sha = digest.hexdigest()
            os.replace(partial, self.folder / sha)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
        return sha, size

    def local(self, sha: str) -> Path:
        """The file's path in the folder."""
        return self.folder / sha

    def exists(self, sha: str) -> bool:
        """Whether files/<sha> is there."""
        return (self.folder / sha).is_file()

    def delete(self, name: str) -> None:
        """Unlink files/<name> (only a plain name, never a path)."""
        (self.folder / Path(name).name).unlink(missing_ok=True)

    def names(self, older_than: float) -> Iterator[str]:
        """Names in the folder last written before now - older_than."""
        if not self.folder.is_dir():
            return
        before = time.time() - older_than
        for path in self.folder.iterdir():
            if path.is_file() and path.stat().st_mtime < before:
                yield path.name

    def modified(self, name: str) -> float | None:
        """The file's mtime, None when it is gone."""
        try:
            return (self.folder / Path(name).name).stat().st_mtime
        except FileNotFoundError:
            return None
