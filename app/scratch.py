"""Working folders for parsing, outside the file store: `data/scratch/<host>-<pid>/`.

Parsing needs a copy (a hard link) of a stored file under its real extension, and a Strict
Open XML file a LibreOffice conversion. They live in the worker process's own folder here,
never beside the stored files: a worker killed mid-parse leaves its folder, which the next
worker process on the host (or `gptu doctor`) removes, so a deleted document's bytes never stay
behind in the file store.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path

# Folders of earlier releases, made inside data/files beside the stored files.
LEGACY = (".parse-", ".strict-")
HOUR = 3600.0


def own_folder(root: Path) -> Path:
    """This process's scratch folder (created)."""
    folder = root / f"{socket.gethostname()}-{os.getpid()}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def alive(pid: int) -> bool:
    """Whether a process with this id runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def grace(task_time_limit: float) -> float:
    """How long another host's scratch folder (or an old release's parse folder) is left
    alone: an hour, or twice the longest task, whichever is longer."""
    return max(HOUR, 2.0 * task_time_limit)


def leftovers(root: Path, files_dir: Path, grace: float) -> list[Path]:
    """Scratch folders whose process is gone: on this host, those of dead processes; from
    other hosts (a shared data folder), those untouched for `grace` seconds; and the parse
    folders earlier releases left in the file store, once `grace` old."""
    host, before = socket.gethostname(), time.time() - grace
    found = []
    for folder in root.iterdir() if root.is_dir() else ():
        name, _, pid = folder.name.rpartition("-")
        if name == host and pid.isdigit():
            if int(pid) != os.getpid() and not alive(int(pid)):
                found.append(folder)
        elif folder.stat().st_mtime < before:
            found.append(folder)
    for folder in files_dir.iterdir() if files_dir.is_dir() else ():
        if folder.name.startswith(LEGACY) and folder.stat().st_mtime < before:
            found.append(folder)
    return found


def remove(folders: list[Path]) -> int:
    """Remove these folders (or files); how many went."""
    for folder in folders:
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
        else:
            folder.unlink(missing_ok=True)
    return len(folders)
