"""`gptu ingest`: recursive import, skip unchanged, replace changed, --sync removals, summary."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import httpx

from tests.conftest import CORPUS, GPTU, ROOT, Stack


def gptu_ingest(
    stack: Stack, folder: Path, collection: str, *flags: str
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI against the stack's API."""
    return subprocess.run(
        [*GPTU, "ingest", str(folder), "--collection", collection, *flags],
        cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def documents(api: httpx.Client, collection: str) -> dict[str, dict]:
    """The collection's documents by file name."""
    docs = api.get("/v1/documents", params={"collection": collection}).json()
    return {d["filename"]: d for d in docs}


def test_folder_import_skips_replaces_and_syncs(
    api: httpx.Client, stack: Stack, tmp_path: Path
) -> None:
    folder = tmp_path / "share"
    (folder / "memos").mkdir(parents=True)
    shutil.copy(CORPUS / "fake-memo.pdf", folder / "memos" / "fake-memo.pdf")
    shutil.copy(CORPUS / "password.pdf", folder / "password.pdf")
    (folder / "notes.txt").write_text("First version of the notes.")
    (folder / ".hidden.txt").write_text("never imported")
    collection = f"import-{uuid.uuid4().hex[:8]}"

    first = gptu_ingest(stack, folder, collection, "--wait")
    assert first.returncode == 1, first.stdout + first.stderr
    assert "ready: 2  failed: 1  skipped (unchanged): 0" in first.stdout
    assert "password required" in first.stdout
    docs = documents(api, collection)
    assert set(docs) == {"memos/fake-memo.pdf", "password.pdf", "notes.txt"}
    assert docs["memos/fake-memo.pdf"]["status"] == "ready"

    (folder / "notes.txt").write_text("Second version of the notes, changed.")
    (folder / "password.pdf").unlink()
    second = gptu_ingest(stack, folder, collection, "--wait", "--sync")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "ready: 1  failed: 0  skipped (unchanged): 1" in second.stdout
    assert "removed: 1" in second.stdout
    after = documents(api, collection)
    assert set(after) == {"memos/fake-memo.pdf", "notes.txt"}
    assert after["notes.txt"]["id"] != docs["notes.txt"]["id"]
    assert after["memos/fake-memo.pdf"]["id"] == docs["memos/fake-memo.pdf"]["id"]
    hits = api.post(
        "/v1/search", json={"query": "notes version", "collections": [collection]}
    ).json()
    assert [h["text"] for h in hits["results"] if "notes" in h["text"]] == [
        "Second version of the notes, changed."
    ]
