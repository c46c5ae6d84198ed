"""Sources keep a collection current: each kind against a real server of its kind
(tests/sources/site_<kind>.py), through the API, Celery beat and a real worker.

Add a source, let beat sync it, find its items through /v1/search (only as a reader), change
one item and delete another at the source, sync now, and see exactly that change: the changed
item re-indexed in place (same document id, only its new text searchable), the deleted one gone,
nothing else touched (a mail message never changes under IMAP: its new version is a new
message, and the old one is deleted). Removing the source removes its documents.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli.localstack import wait_until
from tests.conftest import Stack
from tests.sources.sites import KINDS, Site, start

ALPHA_ONE = "The alpha {kind} policy says the deadline is Monday, the orchid rule."
ALPHA_TWO = "The alpha {kind} policy says the deadline is Friday, the magnolia rule."
BRAVO = "The bravo {kind} notice mentions the kestrel schedule."


def user_key(admin: httpx.Client, name: str, groups: list[str]) -> str:
    """A new user in groups, and an API key of theirs."""
    admin.post("/v1/users", json={"name": name, "groups": groups}).raise_for_status()
    key: str = admin.post(f"/v1/users/{name}/keys").json()["key"]
    return key


def settled(api: httpx.Client, source: str, after: str | None) -> dict[str, Any] | None:
    """The source once a sync newer than `after` has ended and its documents are ingested."""
    row: dict[str, Any] = api.get(f"/v1/sources/{source}").json()
    if row["syncing"] or row["last_sync"] in (None, after):
        return None
    docs = api.get("/v1/documents", params={"collection": row["collection"]}).json()
    if any(d["status"] in ("queued", "processing") for d in docs):
        return None
    return row


def texts(api: httpx.Client, collection: str, query: str) -> list[str]:
    """The texts /v1/search finds in the collection."""
    found = api.post("/v1/search", json={"query": query, "collections": [collection], "k": 10})
    assert found.status_code == 200, found.text
    return [hit["text"] for hit in found.json()["results"]]


@pytest.fixture(params=KINDS)
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A real server of each kind, empty."""
    made: Site = start(request.param, tmp_path)
    try:
        yield made
    finally:
        made.stop()


def test_a_source_keeps_its_collection_current(site: Site, stack: Stack, api: httpx.Client) -> None:
    kind, tag = site.kind, uuid.uuid4().hex[:8]
    group, collection, name = f"g-{tag}", f"src-{kind}-{tag}", f"{kind}-{tag}"
    api.post("/v1/groups", json={"name": group}).raise_for_status()
    api.post("/v1/collections", json={"name": collection, "readers": [group]}).raise_for_status()
    reader = user_key(api, f"reader-{tag}", [group])
    outsider = user_key(api, f"outsider-{tag}", [])
    site.write("alpha", ALPHA_ONE.format(kind=kind))
    site.write("bravo", BRAVO.format(kind=kind))

    made = api.post("/v1/sources", json={
        "name": name, "kind": kind, "collection": collection, "settings": site.settings(),
        "secrets": site.secrets(), "interval_minutes": 1440,
    })  # fmt: skip
    assert made.status_code == 201, made.text
    assert made.json()["secrets"] == sorted(site.secrets())
    for value in site.secrets().values():
        assert value not in made.text
    first = wait_until(lambda: settled(api, name, None), 120, f"{kind} source synced by beat")
    assert first["error"] is None, first
    assert (first["counts"]["new"], first["counts"]["failed"]) == (2, 0), first["counts"]
    docs = {d["id"]: d for d in api.get("/v1/documents", params={"collection": collection}).json()}
    assert [d["status"] for d in docs.values()] == ["ready", "ready"], docs

    with stack.client(reader) as as_reader:
        assert any("Monday" in t for t in texts(as_reader, collection, "alpha policy deadline"))
        assert any("kestrel" in t for t in texts(as_reader, collection, "bravo notice kestrel"))
    with stack.client(outsider) as as_outsider:
        denied = as_outsider.post("/v1/search", json={"query": "alpha policy deadline"})
        assert all("orchid" not in hit["text"] for hit in denied.json()["results"])
        refused = as_outsider.post(
            "/v1/search", json={"query": "alpha", "collections": [collection]}
        )
        assert refused.status_code in (403, 404)
        assert as_outsider.get(f"/v1/sources/{name}").status_code == 404

    site.write("alpha", ALPHA_TWO.format(kind=kind))
    site.remove("bravo")
    assert api.post(f"/v1/sources/{name}/sync").status_code == 202
    second = wait_until(lambda: settled(api, name, first["last_sync"]), 120, f"{kind} resync")
    assert second["error"] is None, second
    counts = second["counts"]
    got = (counts["new"], counts["changed"], counts["deleted"], counts["failed"])
    after = api.get("/v1/documents", params={"collection": collection}).json()
    assert len(after) == 1 and after[0]["status"] == "ready", after
    if kind == "imap":  # a message never changes: the new version is a new message (new UID)
        assert got == (1, 0, 2, 0) and after[0]["id"] not in docs, (got, after)
    else:  # re-indexed in place: the same document
        assert got == (0, 1, 1, 0) and after[0]["id"] in docs, (got, after)
    with stack.client(reader) as as_reader:
        found = texts(as_reader, collection, "alpha policy deadline")
        assert any("Friday" in t for t in found), found
        assert not any("Monday" in t for t in found), found
        assert not any("kestrel" in t for t in texts(as_reader, collection, "bravo kestrel"))

    assert api.delete(f"/v1/sources/{name}").status_code == 200
    assert api.get("/v1/documents", params={"collection": collection}).json() == []
    assert api.get(f"/v1/sources/{name}").status_code == 404


def test_a_bad_source_says_why_on_its_row_and_the_next_sync_retries(
    stack: Stack, api: httpx.Client, tmp_path: Path
) -> None:
    site = start("webdav", tmp_path)
    try:
        tag = uuid.uuid4().hex[:8]
        collection, name = f"bad-{tag}", f"bad-{tag}"
        api.post("/v1/collections", json={"name": collection}).raise_for_status()
        site.write("alpha", ALPHA_ONE.format(kind="webdav"))
        made = api.post("/v1/sources", json={
            "name": name, "kind": "webdav", "collection": collection,
            "settings": site.settings(), "secrets": {"password": "not-the-password"},
        })  # fmt: skip
        assert made.status_code == 201, made.text
        first = wait_until(lambda: settled(api, name, None), 120, "the failing sync")
        assert "refused the user alice's password" in first["error"], first
        assert "not-the-password" not in str(first)
        assert api.get("/v1/documents", params={"collection": collection}).json() == []

        fixed = api.patch(f"/v1/sources/{name}", json={"secrets": site.secrets()})
        assert fixed.status_code == 200, fixed.text
        assert api.post(f"/v1/sources/{name}/sync").status_code == 202
        second = wait_until(lambda: settled(api, name, first["last_sync"]), 120, "the retry")
        assert second["error"] is None and second["counts"]["new"] == 1, second
        assert second["documents"] == 1
    finally:
        site.stop()
