"""No file fails because of its neighbour: one upload's small files share a batch task in the
real worker, yet a bad file fails alone with its own reason; a failed file is retried from its
stored copy."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx

from tests.conftest import CORPUS, Stack, upload, wait_done
from tests.office import strict_copy
from tests.pdfs import deep_tree_pdf
from tests.world import World


def test_a_batch_with_bad_files_leaves_every_good_file_ready(
    api: httpx.Client, collection: str, stack: Stack, tmp_path: Path
) -> None:
    codes = {f"locker-{i}.md": f"zq{uuid.uuid4().hex[:10]}" for i in range(20)}
    good = [(name, f"# Locker\n\nThe locker code is {code}.\n".encode())
            for name, code in codes.items()]  # fmt: skip
    strict = strict_copy(CORPUS / "docx-tables.docx", tmp_path / "strict.docx").read_bytes()
    bad = [("rota.pdf", deep_tree_pdf(120, ["The depot opens at six."])),
           ("password.pdf", (CORPUS / "password.pdf").read_bytes())]  # fmt: skip
    items = upload(api, collection, [*good[:10], *bad, ("strict.docx", strict), *good[10:]])
    docs = {d["filename"]: d for d in wait_done(api, [i["id"] for i in items], 300).values()}
    for name in [*codes, "strict.docx"]:
        assert docs[name]["status"] == "ready", docs[name]
    assert docs["rota.pdf"]["status"] == docs["password.pdf"]["status"] == "failed"
    assert "passes a safety limit" in docs["rota.pdf"]["error"]
    assert "encrypted PDF: password required" in docs["password.pdf"]["error"]
    name, code = next(iter(codes.items()))
    hits = api.post("/v1/search", json={"query": code, "collections": [collection]}).json()
    assert hits["results"][0]["filename"] == name
    assert "ingest.batch" in stack.workers[0].log.read_text(errors="replace")


def test_a_failed_document_is_retried_from_its_stored_file(
    api: httpx.Client, collection: str, stack: Stack, world: World
) -> None:
    [item] = upload(api, collection, [("locked.pdf", (CORPUS / "password.pdf").read_bytes())])
    failed = wait_done(api, [item["id"]])[item["id"]]
    assert failed["status"] == "failed"
    again = api.post(f"/v1/documents/{item['id']}/retry")
    assert again.status_code == 202, again.text
    assert (again.json()["status"], again.json()["error"]) == ("queued", None)
    after = wait_done(api, [item["id"]])[item["id"]]  # the same file fails for the same reason
    assert (after["status"], after["error"]) == ("failed", failed["error"])
    audit = api.get("/v1/audit", params={"action": "document.retry"}).json()
    assert any(e.get("target") == collection for e in audit), audit

    ready = world.documents["all"]  # readable by everyone, written only by the admin
    conflict = api.post(f"/v1/documents/{ready}/retry")
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "conflict"
    with stack.client(world.keys["alice"]) as alice:
        refused = alice.post(f"/v1/documents/{ready}/retry")
        assert refused.status_code == 403, refused.text
        assert alice.post(f"/v1/documents/{item['id']}/retry").status_code == 404  # not hers
    assert api.post("/v1/documents/nope/retry").json()["error"]["code"] == "not_found"
