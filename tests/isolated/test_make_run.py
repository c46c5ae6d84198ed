"""`make run` itself, as a new user starts it: relative `data/`, default settings, the Procfile.

The other tests start the services with absolute temporary data folders; last release's batch
bug hid in what only `make run` does (a relative data folder). Here `make run` runs in a folder
that holds the project (linked, `.env` left out) and nothing else, on free ports, and a mixed
upload of real files in one request must leave every readable file ready and every bad one
failed with its own reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cli.localstack import MadeRun, start_make_run, wait_until
from tests.conftest import CORPUS
from tests.office import strict_copy
from tests.pdfs import deep_tree_pdf

pytestmark = pytest.mark.slow

READABLE = [
    "umlauts-non-utf8.md", "fake-html-cp1252.html", "fake.odt", "family-day.eml",
    "sample-presentation.pptx", "vodafone.xlsx", "2023-half-year-analyses-by-segment.xlsx",
    "table-multi-row-column-cells-actual.csv", "stanley-cups-with-emoji.tsv", "fake-memo.pdf",
    "korean-text-with-tables.pdf", "docx-tables.docx", "fake-doc.rtf", "fake-email-attachment.msg",
    "factbook-utf-16.xml", "arbitrary-records.json", "norwich-city.txt", "README.org",
]  # fmt: skip
BAD = {  # each fails with its own reason
    "password.pdf": "encrypted PDF: password required",
    "fake-encrypted.eml": "encrypted e-mail",
    "empty.txt": "empty file (0 bytes)",
    "deep-tree.pdf": "passes a safety limit",
}


@pytest.fixture(scope="module")
def make_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MadeRun]:
    """`make run` in a folder of links to the project, on free ports, settings otherwise
    default; stopped (the whole process group) at the end."""
    started = start_make_run(tmp_path_factory.mktemp("newuser") / "gptu")
    try:
        yield started
    finally:
        started.stop()


def test_make_run_keeps_its_data_in_the_relative_data_folder(make_run: MadeRun) -> None:
    data = make_run.folder / "data"
    assert (data / "gptu.db").is_file() and (data / "chroma").is_dir() and (data / "redis").is_dir()


def test_the_first_start_prints_a_link_that_lets_the_admin_choose_a_password(
    make_run: MadeRun,
) -> None:
    assert make_run.link.startswith(f"{make_run.url}/welcome#"), make_run.output.read_text()
    token = make_run.link.split("#", 1)[1]
    with httpx.Client(base_url=make_run.url, timeout=30) as page:
        assert page.get("/welcome").status_code == 200
        chosen = page.post("/v1/auth/link", json={"token": token, "password": "a long passphrase"})
        assert chosen.status_code == 200, chosen.text
        assert chosen.json()["admin"] is True
        assert page.get("/v1/me").json()["name"] == "admin"
        again = page.post("/v1/auth/link", json={"token": token, "password": "another passphrase"})
        assert again.status_code == 401


def mixed_files(folder: Path) -> list[tuple[str, bytes]]:
    """The upload: readable corpus files, a Strict docx (written in folder), the bad ones."""
    chosen = [(name, (CORPUS / name).read_bytes()) for name in READABLE]
    strict = strict_copy(CORPUS / "docx-tables.docx", folder / "strict.docx")
    chosen.append(("strict-tables.docx", strict.read_bytes()))
    chosen += [(name, (CORPUS / name).read_bytes()) for name in BAD if name != "deep-tree.pdf"]
    return [*chosen, ("deep-tree.pdf", deep_tree_pdf(120, ["The depot opens at six."]))]


def upload_and_settle(
    api: httpx.Client, collection: str, files: list[tuple[str, bytes]], timeout: float
) -> dict[str, dict]:
    """Upload files in one request to a new collection; each document, by name, once every
    one is ready or failed."""
    api.post("/v1/collections", json={"name": collection}).raise_for_status()
    sent = api.post("/v1/documents", data={"collection": collection},
                    files=[("file", item) for item in files])  # fmt: skip
    assert sent.status_code == 202, sent.text
    docs: dict[str, dict] = {}

    def settled() -> bool:
        for doc in api.get("/v1/documents", params={"collection": collection}).json():
            if doc["status"] in ("ready", "failed"):
                docs[doc["filename"]] = doc
        return len(docs) == len(files)

    wait_until(settled, timeout, "every file of the upload ready or failed")
    return docs


def test_a_mixed_upload_through_make_run_fails_only_the_bad_files(
    make_run: MadeRun, tmp_path: Path
) -> None:
    headers = {"Authorization": f"Bearer {make_run.key}"}
    with httpx.Client(base_url=make_run.url, headers=headers, timeout=120) as api:
        docs = upload_and_settle(api, "handbook", mixed_files(tmp_path), 420)
        found = api.post("/v1/search", json={"query": "Strict tables", "k": 50}).json()
    log = make_run.output.read_text(errors="replace")
    for name in [*READABLE, "strict-tables.docx"]:
        doc = docs[name]
        assert doc["status"] == "ready" and doc["chunks"] >= 1, (doc, log[-4000:])
    for name, reason in BAD.items():
        assert docs[name]["status"] == "failed", docs[name]
        assert reason in docs[name]["error"], docs[name]
        assert "log" not in docs[name]["error"], docs[name]
    assert any(r["filename"] == "strict-tables.docx" for r in found["results"]), found


def test_a_source_syncs_under_make_run_with_beat_running(make_run: MadeRun, tmp_path: Path) -> None:
    share = tmp_path / "share"
    share.mkdir()
    (share / "leave.md").write_text("# Leave\n\nStaff take twenty-eight days of leave a year.\n")
    headers = {"Authorization": f"Bearer {make_run.key}"}
    with httpx.Client(base_url=make_run.url, headers=headers, timeout=120) as api:
        api.post("/v1/collections", json={"name": "shared"}).raise_for_status()
        made = api.post("/v1/sources", json={
            "name": "share", "kind": "folder", "collection": "shared",
            "settings": {"path": str(share)}, "interval_minutes": 1440,
        })  # fmt: skip
        assert made.status_code == 201, made.text
        assert api.post("/v1/sources/share/sync").status_code == 202

        def synced() -> dict | None:
            row = api.get("/v1/sources/share").json()
            docs = api.get("/v1/documents", params={"collection": "shared"}).json()
            return row if docs and all(d["status"] == "ready" for d in docs) else None

        row = wait_until(synced, 120, "the folder source synced and ingested")
        assert row["error"] is None and row["documents"] == 1, row
    log = make_run.output.read_text(errors="replace")
    assert "beat: Starting" in log, log[-3000:]  # honcho runs the Procfile's beat
    assert (make_run.folder / "data" / "celerybeat-schedule").exists() or any(
        (make_run.folder / "data").glob("celerybeat-schedule*")
    )
