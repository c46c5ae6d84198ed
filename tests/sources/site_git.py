"""A local bare git repository, and a work tree that commits and pushes to its main branch."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

AUTHOR = ["-c", "user.name=gptu tests", "-c", "user.email=tests@gptu.invalid"]


class GitSite:
    """A bare repository (what gptu clones) and a work tree that pushes to it."""

    kind = "git"

    def __init__(self, tmp: Path) -> None:
        self.root = tmp / "git-site"
        self.bare = self.root / "docs.git"
        self.work = self.root / "work"
        self.root.mkdir(parents=True)
        run(self.root, "init", "--quiet", "--bare", "-b", "main", str(self.bare))
        run(self.root, "init", "--quiet", "-b", "main", str(self.work))
        run(self.work, "remote", "add", "origin", str(self.bare))
        self.branch = "main"

    def settings(self) -> dict[str, Any]:
        """The bare repository's file:// URL and branch main."""
        return {"url": self.bare.as_uri(), "branch": "main"}

    def secrets(self) -> dict[str, str]:
        """None: a local repository needs no token."""
        return {}

    def write(self, name: str, text: str) -> None:
        """docs/<name>.md holding text as its one paragraph, committed and pushed."""
        self.put(f"docs/{name}.md", f"# {name.capitalize()}\n\n{text}\n".encode())

    def put(self, path: str, content: bytes, branch: str = "main") -> None:
        """Any file at path on a branch, committed and pushed."""
        self.switch(branch)
        target = self.work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        run(self.work, "add", "--", path)
        self.commit(f"write {path}")

    def remove(self, name: str) -> None:
        """Delete docs/<name>.md, committed and pushed."""
        self.switch("main")
        run(self.work, "rm", "--quiet", "--", f"docs/{name}.md")
        self.commit(f"remove {name}")

    def switch(self, branch: str) -> None:
        """Work on branch (made from the current one when new)."""
        if branch != self.branch and self.has_commits():
            known = run(self.work, "branch", "--list", branch).strip()
            run(self.work, "switch", "--quiet", *([] if known else ["-c"]), branch)
        elif branch != self.branch:
            run(self.work, "switch", "--quiet", "--orphan", branch)
        self.branch = branch

    def has_commits(self) -> bool:
        """Whether the work tree has a first commit."""
        done = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", "HEAD"], cwd=self.work, capture_output=True
        )
        return done.returncode == 0

    def commit(self, message: str) -> None:
        """Commit what is staged and push the current branch."""
        run(self.work, *AUTHOR, "commit", "--quiet", "-m", message)
        run(self.work, "push", "--quiet", "origin", self.branch)

    def stop(self) -> None:
        """Remove both repositories."""
        shutil.rmtree(self.root, ignore_errors=True)


def run(cwd: Path, *args: str) -> str:
    """Run git in cwd; raise with its stderr when it fails."""
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def start(tmp: Path) -> GitSite:
    """An empty repository with branch main."""
    return GitSite(tmp)
