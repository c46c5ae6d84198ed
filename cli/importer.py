"""Folder import through the API: skip unchanged files, replace changed ones, mirror on --sync."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

BATCH_FILES = 16
BATCH_BYTES = 64 << 20
DONE = {"ready", "failed"}


@dataclass
class LocalFile:
    """A file found in the folder; name is its path relative to the folder."""

    name: str
    path: Path
    sha256: str
    size: int


@dataclass
class Plan:
    """What an import will do."""

    upload: list[LocalFile] = field(default_factory=list)
    replace: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    """What an import did: document ids by file name, and refusals at upload."""

    uploaded: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    removed: int = 0


def sha256_of(path: Path) -> str:
    """The file's sha256, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def walk(root: Path) -> Iterator[LocalFile]:
    """Every regular, non-hidden file under root, in a stable order."""
    paths = [root] if root.is_file() else sorted(root.rglob("*"))
    base = root.parent if root.is_file() else root
    for path in paths:
        rel = path.relative_to(base)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        yield LocalFile(rel.as_posix(), path, sha256_of(path), path.stat().st_size)


def make_plan(files: list[LocalFile], existing: list[dict[str, Any]], sync: bool) -> Plan:
    """Compare the folder with the collection's documents."""
    plan = Plan()
    known_shas = {d["sha256"] for d in existing}
    by_name: dict[str, list[dict[str, Any]]] = {}
    for doc in existing:
        by_name.setdefault(doc["filename"], []).append(doc)
    for local in files:
        if local.sha256 in known_shas:
            plan.skipped.append(local.name)
            continue
        plan.upload.append(local)
        known_shas.add(local.sha256)
        plan.replace += [d["id"] for d in by_name.get(local.name, [])]
    if sync:
        names = {f.name for f in files}
        plan.remove = [d["id"] for d in existing if d["filename"] not in names]
    return plan


class Importer:
    """Talks to a running gptu API."""

    def __init__(self, client: httpx.Client, collection: str) -> None:
        self.client = client
        self.collection = collection

    def ensure_collection(self) -> str | None:
        """Create the collection unless it exists; the server's refusal as a message, if any."""
        found = self.client.get("/v1/collections")
        if found.status_code != 200:
            return error_message(found)
        if self.collection not in {c["name"] for c in found.json()}:
            made = self.client.post("/v1/collections", json={"name": self.collection})
            if made.status_code != 201:
                return error_message(made)
        return None

    def documents(self) -> list[dict[str, Any]]:
        """The collection's documents."""
        params = {"collection": self.collection}
        result: list[dict[str, Any]] = self.client.get("/v1/documents", params=params).json()
        return result

    def run(self, plan: Plan, progress: Callable[[int], None]) -> Outcome:
        """Upload in batches, then delete replaced and (with --sync) vanished documents."""
        outcome = Outcome()
        for batch in batches(plan.upload):
            self.upload(batch, outcome)
            progress(len(batch))
        for doc_id in [*plan.replace, *plan.remove]:
            self.client.delete(f"/v1/documents/{doc_id}")
        outcome.removed = len(plan.remove)
        return outcome

    def upload(self, batch: list[LocalFile], outcome: Outcome) -> None:
        """Send a batch; when the server refuses it (e.g. one file too large), send files alone."""
        handles = [f.path.open("rb") for f in batch]
        try:
            files = [("file", (f.name, h)) for f, h in zip(batch, handles, strict=True)]
            answer = self.client.post(
                "/v1/documents", data={"collection": self.collection}, files=files
            )
        finally:
            for handle in handles:
                handle.close()
        if answer.status_code == 202:
            for item in answer.json():
                outcome.uploaded[item["filename"]] = item["id"]
        elif len(batch) > 1 and answer.status_code == 413:
            for local in batch:
                self.upload([local], outcome)
        else:
            outcome.refused[batch[0].name] = error_message(answer)

    def pending(self) -> set[str]:
        """The ids of the collection's documents still queued or processing."""
        found: set[str] = set()
        for state in ("queued", "processing"):
            params = {"collection": self.collection, "status": state}
            found |= {doc["id"] for doc in self.client.get("/v1/documents", params=params).json()}
        return found

    def wait(
        self, ids: set[str], progress: Callable[[int], None], poll: float = 1.0
    ) -> dict[str, dict[str, Any]]:
        """Poll until every id is ready or failed; return their final rows. Each poll asks
        only for the collection's unsettled documents (a whole large collection, listed every
        second during an import, kept the API busy serialising it while people asked)."""
        settled: set[str] = set()
        while len(settled) < len(ids):
            now = (ids - settled) - self.pending()
            settled |= now
            progress(len(now))
            if len(settled) < len(ids):
                time.sleep(poll)
        return {doc["id"]: doc for doc in self.documents() if doc["id"] in ids}


def batches(files: list[LocalFile]) -> Iterator[list[LocalFile]]:
    """Groups of at most BATCH_FILES files and about BATCH_BYTES bytes."""
    batch: list[LocalFile] = []
    size = 0
    for local in files:
        if batch and (len(batch) >= BATCH_FILES or size + local.size > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(local)
        size += local.size
    if batch:
        yield batch


def error_message(answer: httpx.Response) -> str:
    """The message of our error envelope, or the status line."""
    try:
        return str(answer.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {answer.status_code}"
