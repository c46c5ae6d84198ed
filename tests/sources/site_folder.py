"""A folder on this machine, as a mounted file share is to the worker."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any


class FolderSite:
    """Markdown files in a folder (and a subfolder, to show the walk is recursive)."""

    kind = "folder"

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "team").mkdir(parents=True)

    def settings(self) -> dict[str, Any]:
        """The folder's absolute path."""
        return {"path": str(self.root)}

    def secrets(self) -> dict[str, str]:
        """None needed."""
        return {}

    def write(self, name: str, text: str) -> None:
        """team/<name>.md"""
        (self.root / "team" / f"{name}.md").write_text(f"# {name.title()}\n\n{text}\n")

    def remove(self, name: str) -> None:
        """Delete team/<name>.md."""
        (self.root / "team" / f"{name}.md").unlink()

    def stop(self) -> None:
        """Remove the folder."""
        shutil.rmtree(self.root, ignore_errors=True)


def start(tmp: Path) -> FolderSite:
    """An empty share folder under tmp."""
    return FolderSite(tmp / "share")
