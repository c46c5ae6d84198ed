"""A git repository's branch: the documents in its newest commit, versioned by blob sha.

A bare repository in the source's folder holds the branch's tip (fetched shallow, so a large
history costs nothing); `git ls-remote` tells first whether the tip moved, so an unchanged
repository costs one round trip and one `git ls-tree`.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

from pydantic import Field, field_validator

from ingest.parse import is_supported
from sources.base import Entry, ItemError, Kind, Scan, Settings, SourceError, too_big

DEFAULT_EXTENSIONS = [".md", ".markdown", ".rst", ".adoc", ".asciidoc", ".txt", ".pdf"]
# gptu's parser reads no AsciiDoc: such files are plain enough text to index as .txt
READ_AS = {".markdown": ".md", ".mdown": ".md"}
FETCH_TIMES = 5  # a fetch may take this many network timeouts (a first clone is large)


class GitSettings(Settings):
    """Which repository, branch and files to read."""

    url: str = Field(description="A repository URL or path git can clone (https, ssh, file://).")
    branch: str = Field("main", description="The branch whose newest commit is read.")
    paths: list[str] = Field(
        default_factory=list,
        description="Folders or files to take (e.g. docs, README.md); empty takes everything.",
    )
    extensions: list[str] = Field(
        default_factory=lambda: list(DEFAULT_EXTENSIONS),
        description="File extensions to take.",
    )

    @field_validator("url", "branch")
    @classmethod
    def no_option(cls, value: str) -> str:
        """Refuse values git would read as an option, and empty ones."""
        if not value.strip() or value.startswith("-"):
            raise ValueError("must not be empty or start with '-'")
        return value.strip()

    def reads_server_disk(self) -> bool:
        """A file:// URL or a path reads a repository on the worker's own disk."""
        url = self.url.lower()
        return url.startswith(("file:", "/", ".", "~")) or ("://" not in url and ":" not in url)

    @field_validator("extensions")
    @classmethod
    def dotted(cls, values: list[str]) -> list[str]:
        """Lower-case extensions with their leading dot (".md")."""
        return ["." + v.strip().lower().lstrip(".") for v in values if v.strip()]

    @field_validator("paths")
    @classmethod
    def relative(cls, values: list[str]) -> list[str]:
        """Paths inside the repository, without leading or trailing slashes."""
        return [v.strip().strip("/") for v in values if v.strip().strip("/")]


class GitRepository:
    """Lists the files of one branch of one repository."""

    def __init__(self, settings: GitSettings, secrets: Mapping[str, str]) -> None:
        self.settings = settings
        self.token = secrets.get("token", "")
        self.name = repo_name(settings.url)

    def entries(self, scan: Scan) -> Iterator[Entry]:
        """Every taken file of the branch's newest commit; fetches only when the tip moved."""
        bare = scan.folder / "repo.git"
        scan.folder.mkdir(parents=True, exist_ok=True)
        commit = self.remote_tip(scan)
        if not (bare / "HEAD").exists():
            self.git(["init", "--bare", "--quiet", str(bare)], cwd=scan.folder, timeout=60)
        if not self.has_commit(bare, commit):
            commit = self.fetch(bare, scan)  # the tip may have moved since ls-remote
        scan.state["commit"] = commit
        for mode, sha, size, path in self.tree(bare, commit):
            if mode != "120000" and self.takes(path):
                yield self.entry(bare, sha, size, path, scan.max_bytes)

    def entry(self, bare: Path, sha: str, size: int, path: str, limit: int) -> Entry:
        """One file as an entry; read() gets its blob from the local repository."""
        label = f"{self.name}: {path}"

        def read() -> bytes:
            return self.blob(bare, sha, size, label, limit)

        return Entry(
            key=path, version=sha, label=label, parse_as=read_as(path), read=read, size=size
        )

    def takes(self, path: str) -> bool:
        """Whether the file lies under one of the paths and has one of the extensions."""
        wanted = self.settings.paths
        if wanted and not any(path == p or path.startswith(p + "/") for p in wanted):
            return False
        return Path(path).suffix.lower() in self.settings.extensions

    def remote_tip(self, scan: Scan) -> str:
        """The branch's newest commit at the remote; SourceError when it has no such branch."""
        out = self.git(
            ["ls-remote", "--heads", "--", self.settings.url],
            cwd=scan.folder,
            timeout=FETCH_TIMES * scan.timeout,
        )
        heads = dict(
            (ref.removeprefix("refs/heads/"), sha)
            for sha, _, ref in (line.partition("\t") for line in out.decode().splitlines())
        )
        if self.settings.branch not in heads:
            has = ", ".join(sorted(heads)) or "no branches at all"
            raise SourceError(
                f"the repository {self.shown_url()} has no branch {self.settings.branch} "
                f"(it has: {has})"
            )
        return heads[self.settings.branch]

    def fetch(self, bare: Path, scan: Scan) -> str:
        """Bring the branch's tip (only it, without history) into the local repository;
        return its commit."""
        ref = f"refs/heads/{self.settings.branch}"
        self.git(
            [
                "fetch",
                "--quiet",
                "--no-tags",
                "--depth=1",
                "--",
                self.settings.url,
                f"+{ref}:{ref}",
            ],
            cwd=bare,
            timeout=FETCH_TIMES * scan.timeout,
        )
        return self.git(["rev-parse", f"{ref}^{{commit}}"], cwd=bare, timeout=60).decode().strip()

    def has_commit(self, bare: Path, commit: str) -> bool:
        """Whether the local repository already holds this commit."""
        try:
            self.git(["cat-file", "-e", f"{commit}^{{commit}}"], cwd=bare, timeout=60)
        except SourceError:
            return False
        return True

    def tree(self, bare: Path, commit: str) -> Iterator[tuple[str, str, int, str]]:
        """(mode, blob sha, size, path) of every file in the commit."""
        out = self.git(["ls-tree", "-r", "-l", "-z", commit], cwd=bare, timeout=120)
        for record in out.decode("utf-8", "replace").split("\0"):
            meta, _, path = record.partition("\t")
            fields = meta.split()
            if len(fields) == 4 and fields[1] == "blob":
                yield fields[0], fields[2], int(fields[3]), path

    def blob(self, bare: Path, sha: str, size: int, label: str, limit: int) -> bytes:
        """A file's content; ItemError over the size limit."""
        if size > limit:
            raise ItemError(too_big(label, size, limit))
        return self.git(["cat-file", "blob", sha], cwd=bare, timeout=120)

    def git(self, args: list[str], cwd: Path, timeout: float) -> bytes:
        """Run git; SourceError with git's own first line of complaint (no credentials)."""
        try:
            done = subprocess.run(
                ["git", *args],
                cwd=cwd,
                env=self.environment(),
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise SourceError(
                f"git did not finish reading {self.shown_url()} in {timeout:g} s: "
                "check that the server is reachable"
            ) from None
        if done.returncode != 0:
            raise SourceError(f"git could not read {self.shown_url()}: {self.complaint(done)}")
        return done.stdout

    def complaint(self, done: subprocess.CompletedProcess[bytes]) -> str:
        """git's first line on stderr, without the token or a password in a URL."""
        lines = [line.strip() for line in done.stderr.decode(errors="replace").splitlines()]
        first = next((line for line in lines if line), f"exit status {done.returncode}")
        first = re.sub(r"^(fatal|error): ", "", first)
        if "terminal prompts disabled" in first or "Authentication failed" in first:
            held = "refused the token" if self.token else "asks for a token and none is set"
            first = f"the server {held}: check the token and its read access to the repository"
        return hide_secrets(first, self.token)

    def environment(self) -> dict[str, str]:
        """git's environment: never prompt; the token as an HTTP header, not on a command line."""
        env = {
            **os.environ,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "",
            "SSH_ASKPASS": "",
            "GIT_SSH_COMMAND": "ssh -o BatchMode=yes",
            "GIT_ALLOW_PROTOCOL": "file:git:http:https:ssh",  # never ext::, which runs commands
            "LC_ALL": "C",
        }
        if self.token:
            basic = base64.b64encode(f"x-access-token:{self.token}".encode()).decode()
            env.update(
                GIT_CONFIG_COUNT="1",
                GIT_CONFIG_KEY_0="http.extraHeader",
                GIT_CONFIG_VALUE_0=f"Authorization: Basic {basic}",
            )
        return env

    def shown_url(self) -> str:
        """The repository's URL as shown to people: without a user or password in it."""
        return hide_secrets(self.settings.url, self.token)


def hide_secrets(text: str, token: str) -> str:
    """text without the token and without the user:password part of any URL in it."""
    if token:
        text = text.replace(token, "***")
    return re.sub(r"(\w+://)[^/@\s]+@", r"\1", text)


def repo_name(url: str) -> str:
    """The repository's name from its URL or path ("gptu" for https://host/org/gptu.git)."""
    last = re.split(r"[/:]", url.rstrip("/"))[-1]
    return last.removesuffix(".git") or url


def read_as(path: str) -> str:
    """The extension gptu's parser reads the file as: its own when supported, else .txt."""
    suffix = Path(path).suffix.lower()
    if suffix in READ_AS:
        return READ_AS[suffix]
    return suffix if is_supported(path) else ".txt"


KIND = Kind(
    name="git",
    summary="The documents on one branch of a git repository (Markdown, reST, text, PDF)",
    settings=GitSettings,
    secrets=("token",),
    make=lambda settings, secrets: GitRepository(settings, secrets),
)
