"""Upload, list, get, search and delete through the real API, worker, Redis and Chroma."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import Stack, upload, wait_done


def phrase() -> str:
    """A unique made-up word that no other document contains."""
    return "zq" + uuid.uuid4().hex[:10]


def search(api: httpx.Client, query: str, collections: list[str]) -> list[dict]:
    """Search results for query."""
    answer = api.post("/v1/search", json={"query": query, "collections": collections, "k": 5})
    assert answer.status_code == 200, answer.text
    results: list[dict] = answer.json()["results"]
    return results


def test_upload_to_ready_then_delete_removes_every_chunk(
    api: httpx.Client, collection: str, stack: Stack
) -> None:
    secret = phrase()
    text = f"# Travel policy\n\nEmployees book trains for trips under 500 km. Code {secret}.\n"
    [item] = upload(api, collection, [("policy.md", text.encode())])
    assert item["status"] == "queued"
    doc = wait_done(api, [item["id"]])[item["id"]]
    assert doc["status"] == "ready", doc
    assert doc["chunks"] >= 1 and doc["pages"] >= 1 and doc["collection"] == collection
    listed = api.get("/v1/documents", params={"collection": collection, "status": "ready"}).json()
    assert [d["id"] for d in listed] == [item["id"]]

    hits = search(api, secret, [collection])
    assert hits and secret in hits[0]["text"] and hits[0]["filename"] == "policy.md"
    vector_hits = search(api, "which transport for short business trips", [collection])
    assert vector_hits[0]["document_id"] == item["id"]

    assert api.delete(f"/v1/documents/{item['id']}").status_code == 200
    assert search(api, secret, [collection]) == []
    assert api.get(f"/v1/documents/{item['id']}").status_code == 404
    assert not (stack.data_dir / "files" / doc["sha256"]).exists()


def test_search_is_filtered_by_collection_inside_the_query(api: httpx.Client) -> None:
    secret = phrase()
    names = [f"filter-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    ids = []
    for name in names:
        api.post("/v1/collections", json={"name": name}).raise_for_status()
        [item] = upload(api, name, [(f"{name}.txt", f"Note {secret} in {name}.".encode())])
        ids.append(item["id"])
    wait_done(api, ids)
    only_first = search(api, secret, [names[0]])
    assert {h["collection"] for h in only_first} == {names[0]}
    both = search(api, secret, names)
    assert {h["collection"] for h in both} == set(names)


def test_a_file_shared_by_two_documents_outlives_one_of_them(
    api: httpx.Client, collection: str, stack: Stack
) -> None:
    content = f"shared content {phrase()}".encode()
    items = upload(api, collection, [("one.txt", content), ("two.txt", content)])
    docs = wait_done(api, [i["id"] for i in items])
    stored = stack.data_dir / "files" / docs[items[0]["id"]]["sha256"]
    api.delete(f"/v1/documents/{items[0]['id']}").raise_for_status()
    assert stored.is_file()
    api.delete(f"/v1/documents/{items[1]['id']}").raise_for_status()
    assert not stored.exists()


def test_filenames_are_labels_never_paths(api: httpx.Client, collection: str, stack: Stack) -> None:
    [item] = upload(api, collection, [("../../etc/passwd.txt", b"root:x:0:0 harmless text")])
    doc = wait_done(api, [item["id"]])[item["id"]]
    assert doc["filename"] == "../../etc/passwd.txt"
    assert (stack.data_dir / "files" / doc["sha256"]).is_file()
    assert not (stack.data_dir.parent / "etc").exists()


def test_too_large_file_is_refused_and_nothing_is_kept(
    api: httpx.Client, collection: str, stack: Stack
) -> None:
    before = sorted(p.name for p in (stack.data_dir / "files").iterdir())
    big = b"a" * (5 * 1024 * 1024 + 1)
    answer = api.post(
        "/v1/documents",
        data={"collection": collection},
        files=[("file", ("small.txt", b"fine")), ("file", ("big.txt", big))],
    )
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "file_too_large"
    assert "big.txt" in answer.json()["error"]["message"]
    assert api.get("/v1/documents", params={"collection": collection}).json() == []
    assert sorted(p.name for p in (stack.data_dir / "files").iterdir()) == before


def test_unsupported_type_fails_at_once_with_a_reason(api: httpx.Client, collection: str) -> None:
    [item] = upload(api, collection, [("photo.webp", b"RIFF\0\0\0\0WEBPVP8 not really")])
    assert item["status"] == "failed"
    doc = api.get(f"/v1/documents/{item['id']}").json()
    assert doc["status"] == "failed" and "unsupported file type .webp" in doc["error"]


def test_errors_use_one_envelope(api: httpx.Client, collection: str) -> None:
    cases = [
        api.post("/v1/documents", data={"collection": "nope"}, files=[("file", ("a.txt", b"x"))]),
        api.get("/v1/documents/does-not-exist"),
        api.get("/v1/documents", params={"status": "sleeping"}),
        api.post("/v1/search", json={"query": "   "}),
        api.post("/v1/search", json={"query": "x", "collections": ["nope"]}),
        api.post("/v1/collections", json={"name": "bad name/with slash"}),
        api.post("/v1/collections", json={"name": collection}),
        api.get("/no/such/route"),
    ]
    statuses = [r.status_code for r in cases]
    assert statuses == [404, 404, 400, 422, 404, 422, 409, 404]
    for answer in cases:
        error = answer.json()["error"]
        assert error["code"] and error["message"]


def test_collections_list_and_delete(api: httpx.Client, collection: str) -> None:
    secret = phrase()
    [item] = upload(api, collection, [("a.txt", f"alpha {secret}".encode())])
    wait_done(api, [item["id"]])
    listed = {c["name"]: c for c in api.get("/v1/collections").json()}
    assert listed[collection]["documents"] == 1
    assert listed[collection]["embedder"] == "all-MiniLM-L6-v2-int8"
    assert api.delete(f"/v1/collections/{collection}").status_code == 200
    assert collection not in {c["name"] for c in api.get("/v1/collections").json()}
    everywhere = api.post("/v1/search", json={"query": secret}).json()["results"]
    assert all(secret not in hit["text"] for hit in everywhere)
    assert api.get(f"/v1/documents/{item['id']}").status_code == 404


def test_health_and_readiness(api: httpx.Client) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    ready = api.get("/readyz").json()
    assert ready["ready"] is True and set(ready["checks"]) == {
        "database",
        "chroma",
        "lexical",
        "redis",
        "model",
    }


def test_small_files_of_one_upload_are_ingested_together_each_in_its_own_state(
    api: httpx.Client, collection: str, stack: Stack
) -> None:
    secrets = [phrase() for _ in range(4)]
    good = [(f"note{i}.txt", f"Note {i}: the van check code is {s}.".encode())
            for i, s in enumerate(secrets)]  # fmt: skip
    items = upload(api, collection, [*good, ("empty.txt", b""), ("broken.docx", b"not a zip")])
    early = api.get("/v1/documents/summary", params={"collection": collection}).json()
    assert sum(early[s] for s in ("queued", "processing", "ready", "failed")) == 6, early
    assert 0 <= early["bytes_waiting"] <= sum(len(body) for _, body in good) + len(b"not a zip")
    docs = wait_done(api, [i["id"] for i in items])
    summary = api.get("/v1/documents/summary", params={"collection": collection}).json()
    assert summary == {"queued": 0, "processing": 0, "ready": 4, "failed": 2, "bytes_waiting": 0}
    newest = api.get("/v1/documents", params={"collection": collection, "limit": 2}).json()
    assert [d["id"] for d in newest] == [d["id"] for d in api.get(
        "/v1/documents", params={"collection": collection}).json()][:2]  # fmt: skip
    assert {(d["stage"], d["progress"], d["ocr_pages"]) for d in docs.values()} == {(None, None, 0)}
    by_name = {d["filename"]: d for d in docs.values()}
    assert by_name["empty.txt"]["status"] == "failed"
    assert by_name["empty.txt"]["error"].startswith("empty file (0 bytes)")
    assert by_name["broken.docx"]["status"] == "failed"
    assert "damaged Word file" in by_name["broken.docx"]["error"]
    for (name, _), secret in zip(good, secrets, strict=True):
        assert (by_name[name]["status"], by_name[name]["chunks"]) == ("ready", 1), by_name[name]
        [hit] = [h for h in search(api, secret, [collection]) if secret in h["text"]]
        assert hit["filename"] == name
    log = stack.workers[0].log.read_text(errors="replace")
    assert "ingest.batch" in log  # they went through one batch task
