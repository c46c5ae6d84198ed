"""The sync engine (sources.sync) on the stack's database, Chroma, files and worker, with a
scripted kind of source we own: per-sync limits, resuming after an interruption, one sync at a
time, a failing source that changes nothing, incomplete listings, items too large, secrets
kept sealed; and the `gptu sources` command."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import Field
from sqlalchemy import select

from app.intake import Intake
from app.services import Services, build_services
from core.db import Collection, Document, Source, SourceItem
from core.secrets import Sealer, SecretsUnreadable
from sources.base import Entry, Kind, Scan, Settings, SourceError
from sources.kinds import kind as real_kind
from sources.sync import Syncer
from tests.conftest import GPTU, ROOT, Stack, sql, stack_settings, wait_done, wait_until
from worker.celery_app import make_celery


class Stopped(Exception):
    """Stands in for the worker's soft time limit."""


class ScriptedSettings(Settings):
    """The items the scripted source lists (key → text), and how it misbehaves."""

    items: dict[str, str] = Field(default_factory=dict)
    fail: str = ""  # the listing raises SourceError with these words
    complete: bool = True
    stop_after: int = -1  # raise Stopped after listing this many entries
    sizes: dict[str, int] = Field(default_factory=dict)  # announced before reading


class Scripted:
    """Lists its settings' items as text files."""

    def __init__(self, settings: ScriptedSettings) -> None:
        self.settings = settings

    def entries(self, scan: Scan) -> Iterator[Entry]:
        """The scripted items."""
        if self.settings.fail:
            raise SourceError(self.settings.fail)
        scan.complete = self.settings.complete
        for n, (key, text) in enumerate(sorted(self.settings.items.items())):
            if n == self.settings.stop_after:
                raise Stopped
            data = text.encode()
            yield Entry(key, str(hash(text)), f"{key} notes", ".txt", lambda d=data: d,
                        self.settings.sizes.get(key))  # fmt: skip


SCRIPTED = Kind("scripted", "a test's", ScriptedSettings, ("token",), lambda s, _: Scripted(s))


def kinds(name: str) -> Kind:
    """The real kinds, and the scripted one."""
    return SCRIPTED if name == "scripted" else real_kind(name)


@pytest.fixture(scope="module")
def services(stack: Stack) -> Services:
    """The stack's parts, seen from this process, with a per-sync limit of 2 items."""
    return build_services(stack_settings(stack).model_copy(update={"source_max_items": 2}))


def syncer(services: Services) -> Syncer:
    """A syncer that queues on the stack's Redis."""
    intake = Intake(services, make_celery(services.settings))
    return Syncer(services, intake, interrupts=(Stopped,), kinds=kinds)


def make_source(services: Services, api: httpx.Client, **settings: Any) -> str:
    """A scripted source over a fresh collection; its id."""
    name = f"scripted-{uuid.uuid4().hex[:8]}"
    api.post("/v1/collections", json={"name": name}).raise_for_status()
    with services.db.session() as session:
        coll = session.scalar(select(Collection).where(Collection.name == name))
        assert coll is not None
        source = Source(name=name, kind="scripted", collection_id=coll.id, settings=settings,
                        state={}, counts={}, interval_minutes=60)  # fmt: skip
        session.add(source)
        session.flush()
        return source.id


def rescript(services: Services, source_id: str, **settings: Any) -> None:
    """Change what the scripted source lists."""
    with services.db.session() as session:
        source = session.get(Source, source_id)
        assert source is not None
        source.settings = settings


def documents(services: Services, source_id: str) -> dict[str, Document]:
    """The source's documents by item key."""
    with services.db.session() as session:
        rows = session.execute(
            select(SourceItem.key, Document)
            .join(Document, Document.id == SourceItem.document_id)
            .where(SourceItem.source_id == source_id)
        ).tuples()
        return {key: doc for key, doc in rows}


def counts(done: Mapping[str, Any] | None) -> tuple[int, ...]:
    """new, changed, deleted, failed, unchanged, waiting of a sync."""
    assert done is not None
    c = done["counts"]
    return c["new"], c["changed"], c["deleted"], c["failed"], c["unchanged"], c["waiting"]


ITEMS = {f"k{n}": f"Item {n} says the meeting room is number {n}." for n in range(5)}


def test_a_per_sync_limit_fills_in_over_several_syncs(
    services: Services, api: httpx.Client
) -> None:
    source_id = make_source(services, api, items=ITEMS)
    run = syncer(services)
    assert counts(run.run(source_id, "a")) == (2, 0, 0, 0, 0, 3)
    assert counts(run.run(source_id, "a")) == (2, 0, 0, 0, 2, 1)
    assert counts(run.run(source_id, "a")) == (1, 0, 0, 0, 4, 0)
    docs = documents(services, source_id)
    assert sorted(docs) == sorted(ITEMS)
    done = wait_done(api, [d.id for d in docs.values()])
    assert {d["status"] for d in done.values()} == {"ready"}
    assert {d["filename"] for d in done.values()} == {f"{k} notes" for k in ITEMS}


def test_an_interrupted_sync_resumes_where_it_stopped(
    services: Services, api: httpx.Client
) -> None:
    items = dict(list(ITEMS.items())[:3])
    source_id = make_source(services, api, items=items, stop_after=1)
    done = syncer(services).run(source_id, "a")
    assert done is not None and "ran out of time" in done["error"]
    assert counts(done) == (1, 0, 0, 0, 0, 0)
    rescript(services, source_id, items=items)
    assert counts(syncer(services).run(source_id, "b")) == (2, 0, 0, 0, 1, 0)


def test_two_syncs_of_one_source_never_run_at_once(services: Services, api: httpx.Client) -> None:
    source_id = make_source(services, api, items={"k0": ITEMS["k0"]})
    first = syncer(services)
    assert first.take(source_id, "first")
    assert syncer(services).run(source_id, "second") is None
    assert documents(services, source_id) == {}
    first.let_go(source_id, "first")
    assert counts(syncer(services).run(source_id, "second")) == (1, 0, 0, 0, 0, 0)


def test_a_failing_source_says_why_and_changes_nothing(
    services: Services, api: httpx.Client
) -> None:
    items = {"k0": ITEMS["k0"], "k1": ITEMS["k1"]}
    source_id = make_source(services, api, items=items)
    syncer(services).run(source_id, "a")
    before = documents(services, source_id)
    words = "cannot reach http://127.0.0.1:9/: connection refused"
    rescript(services, source_id, items={}, fail=words)
    done = syncer(services).run(source_id, "a")
    assert done is not None and done["error"] == words
    assert documents(services, source_id).keys() == before.keys()
    rescript(services, source_id, items={}, complete=False)  # cut short: nothing is deleted
    done = syncer(services).run(source_id, "a")
    assert done is not None and done["error"] is None
    assert documents(services, source_id).keys() == before.keys()
    rescript(services, source_id, items={"k1": ITEMS["k1"]})
    assert counts(syncer(services).run(source_id, "a")) == (0, 0, 1, 0, 1, 0)
    assert sorted(documents(services, source_id)) == ["k1"]


def test_an_item_over_the_size_limit_fails_alone(services: Services, api: httpx.Client) -> None:
    big = services.settings.max_upload_bytes + 1
    items = {"k0": ITEMS["k0"], "huge": "x"}
    source_id = make_source(services, api, items=items, sizes={"huge": big})
    done = syncer(services).run(source_id, "a")
    assert counts(done) == (1, 0, 0, 1, 0, 0)
    assert done is not None and done["error"] is None
    assert any(note.startswith("huge notes is ") and "limit" in note
               for note in done["counts"]["notes"])  # fmt: skip
    assert sorted(documents(services, source_id)) == ["k0"]


def test_secrets_are_sealed_never_shown_and_need_the_key(
    services: Services, stack: Stack, api: httpx.Client, tmp_path: Path
) -> None:
    folder = tmp_path / "share"
    folder.mkdir()
    name, password = f"sealed-{uuid.uuid4().hex[:8]}", "correct horse battery staple 42"
    api.post("/v1/collections", json={"name": name}).raise_for_status()
    made = api.post("/v1/sources", json={
        "name": name, "kind": "webdav", "collection": name,
        "settings": {"url": "http://127.0.0.1:9/dav/", "username": "alice"},
        "secrets": {"password": password},
    })  # fmt: skip
    assert made.status_code == 201, made.text
    assert made.json()["secrets"] == ["password"] and password not in made.text
    assert password not in api.get("/v1/sources").text
    with services.db.session() as session:
        source = session.scalar(select(Source).where(Source.name == name))
        assert source is not None and source.sealed and password not in source.sealed
        sealed = source.sealed
    assert Sealer.from_settings(services.settings).open(sealed) == {"password": password}
    with pytest.raises(SecretsUnreadable):
        Sealer("another key").open(sealed)
    like = {"p": f"%{password}%"}
    assert sql(stack, "SELECT count(*) FROM sources WHERE sealed LIKE :p", **like) == [(0,)]
    audit = "SELECT count(*) FROM audit WHERE CAST(detail AS TEXT) LIKE :p"
    assert sql(stack, audit, **like) == [(0,)]
    if "GPTU_DATABASE_URL" not in stack.env:  # SQLite: nowhere in the file (nor in a backup)
        database = (stack.data_dir / "gptu.db").read_bytes()
        database += (stack.data_dir / "gptu.db-wal").read_bytes()
        assert password.encode() not in database
    unknown = api.post("/v1/sources", json={
        "name": name + "x", "kind": "webdav", "collection": name,
        "settings": {"url": "http://127.0.0.1:9/"}, "secrets": {"pasword": "x"},
    })  # fmt: skip
    assert unknown.status_code == 400 and "pasword" in unknown.json()["error"]["message"]
    folder_source = api.post("/v1/sources", json={
        "name": name + "f", "kind": "folder", "collection": name,
        "settings": {"path": "relative/path"},
    })  # fmt: skip
    assert folder_source.status_code == 400, folder_source.text
    assert "absolute" in folder_source.json()["error"]["message"]
    assert api.delete(f"/v1/collections/{name}").status_code == 200
    assert api.get(f"/v1/sources/{name}").status_code == 404  # went with its collection


def gptu(stack: Stack, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run the real CLI with the stack's settings."""
    return subprocess.run([*GPTU, *args], cwd=ROOT, env=stack.env, input=stdin,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_the_sources_command_adds_lists_syncs_and_removes(
    stack: Stack, api: httpx.Client, tmp_path: Path
) -> None:
    share = tmp_path / "share"
    (share / "hr").mkdir(parents=True)
    (share / "hr" / "leave.md").write_text("# Leave\n\nTwenty-five days of leave a year.\n")
    name = f"cli-{uuid.uuid4().hex[:8]}"
    api.post("/v1/collections", json={"name": name}).raise_for_status()
    added = gptu(stack, "sources", "add", name, "folder", "--collection", name,
                 "--set", f"path={share}", "--interval", "1440")  # fmt: skip
    assert added.returncode == 0, added.stderr
    wait_until(lambda: api.get(f"/v1/sources/{name}").json()["last_sync"], 60, "beat's sync")
    (share / "hr" / "travel.md").write_text("# Travel\n\nBook trains for trips under 600 km.\n")
    synced = gptu(stack, "sources", "sync", name, "--wait")
    assert synced.returncode == 0, synced.stderr
    assert "new 1, changed 0, deleted 0, failed 0, unchanged 1" in synced.stdout
    listed = gptu(stack, "sources", "list")
    assert name in listed.stdout and "new 1" in listed.stdout
    hits = api.post("/v1/search", json={"query": "days of leave", "collections": [name]}).json()
    assert hits["results"][0]["filename"] == "hr/leave.md"
    missing = gptu(stack, "sources", "add", name + "x", "folder", "--collection", name,
                   "--set", "path=/nowhere/at/all")  # fmt: skip
    assert missing.returncode == 0
    failed = gptu(stack, "sources", "sync", name + "x")
    assert failed.returncode == 1 and "/nowhere/at/all does not exist" in failed.stderr
    removed = gptu(stack, "sources", "remove", name)
    assert removed.returncode == 0 and "its 2 document(s)" in removed.stdout
    assert api.get("/v1/documents", params={"collection": name}).json() == []
