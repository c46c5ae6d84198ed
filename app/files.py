"""Where uploaded files live, by sha256: one small interface, a local folder behind it.

APIs write files and workers read them, so with several machines the store must be shared: a
shared disk for `LocalFiles` today; an S3-compatible store can implement the same six methods
(its `local` would download to a cache) without any caller changing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Protocol

COPY_BLOCK = 1 << 20
PARTIAL = ".upload-"
# An upload's own link to its file until its row is committed, and a file being deleted: both
# names of an interrupted operation, which `gptu doctor` removes after its grace period.
HOLD, DELETING = ".hold-", ".deleting-"
LEFTOVERS = (PARTIAL, HOLD, DELETING)


class FileStore(Protocol):
    """Stored files, named by the sha256 of their bytes."""

    def put(self, stream: IO[bytes], max_bytes: int) -> tuple[str, int] | None:
        """Store the stream and hold it for its upload (see `settle`); (sha256, size), or None
        (nothing kept) when over max_bytes."""
        ...

    def settle(self, sha: str) -> None:
        """The upload's row is committed: make sure the file is there (a concurrent delete of
        an identical file may have removed it) and drop the upload's hold."""
        ...

    def delete_unused(self, sha: str, used: Callable[[], bool]) -> bool:
        """Remove a stored file unless `used()` (asked after the file is set aside) says a
        document names it; whether it was removed. With `put` and `settle` this never loses
        the file of an upload committed meanwhile."""
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
        self.holds: dict[str, list[Path]] = {}  # this process's uploads not yet committed
        self.lock = threading.Lock()

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
            held = self.folder / f"{HOLD}{sha}-{uuid.uuid4().hex}"
            os.link(partial, held)
            with self.lock:
                self.holds.setdefault(sha, []).append(held)
            os.replace(partial, self.folder / sha)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
        return sha, size

    def settle(self, sha: str) -> None:
        """Link the held bytes back when the file was deleted meanwhile; drop one hold."""
        with self.lock:
            held = self.holds.get(sha, [])
            if not held:
                return
            hold = held.pop()
            if not held:
                del self.holds[sha]
        with contextlib.suppress(FileExistsError):
            os.link(hold, self.folder / sha)
        hold.unlink(missing_ok=True)

    def delete_unused(self, sha: str, used: Callable[[], bool]) -> bool:
        """Set the file aside, then ask `used()`: an upload that committed its row before the
        question keeps it (linked back), one that commits after it links it back itself
        (`settle`)."""
        aside = self.folder / f"{DELETING}{Path(sha).name}-{uuid.uuid4().hex}"
        try:
            os.rename(self.folder / Path(sha).name, aside)
        except FileNotFoundError:
            return False
        try:
            if used():
                with contextlib.suppress(FileExistsError):
                    os.link(aside, self.folder / Path(sha).name)
                return False
            return True
        finally:
            aside.unlink(missing_ok=True)

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
