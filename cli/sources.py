"""`gptu sources …`: sources that keep a collection current (acts on the server's database,
Chroma and file store directly; run it on the server, as for `gptu users`)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from core.accounts import Caller
from core.errors import GptuError
from core.offline import go_offline
from core.settings import Settings

if TYPE_CHECKING:
    from app.services import Services

sources_cli = typer.Typer(
    help="Sources kept in sync: web sites, WebDAV, IMAP, git, Slack, folders."
)
CLI_CALLER = Caller(user_id="", name="cli", admin=True, groups=frozenset())


@contextmanager
def services() -> Iterator[Services]:
    """The server's parts (database, Chroma, files); a gptu error prints and exits 1."""
    from app.services import build_services

    go_offline()
    try:
        yield build_services(Settings())
    except GptuError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None


def parse_values(pairs: list[str], what: str) -> dict[str, Any]:
    """KEY=VALUE pairs; a VALUE that reads as JSON (a list, a number, true) is taken as such."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{what} takes KEY=VALUE, not {pair!r}")
        try:
            values[key] = json.loads(raw)
        except ValueError:
            values[key] = raw
    return values


def ask_secrets(names: list[str]) -> dict[str, str]:
    """Secrets given as NAME (asked for, hidden) or NAME=VALUE (seen in shell history)."""
    found: dict[str, str] = {}
    for item in names:
        name, sep, value = item.partition("=")
        found[name] = value if sep else typer.prompt(name, hide_input=True)
    return found


@sources_cli.command("add")
def add(
    name: str,
    kind: Annotated[str, typer.Argument(help="web, webdav, imap, git, slack or folder.")],
    collection: Annotated[str, typer.Option(help="The collection it syncs into.")],
    setting: Annotated[
        list[str] | None, typer.Option("--set", help="A setting: KEY=VALUE (repeat).")
    ] = None,
    secret: Annotated[
        list[str] | None,
        typer.Option(help="A secret by name (asked for, hidden), or NAME=VALUE (repeat)."),
    ] = None,
    interval: Annotated[int | None, typer.Option(help="Minutes between syncs.")] = None,
) -> None:
    """Add a source; beat syncs it at once and then every --interval minutes."""
    from core.secrets import Sealer
    from sources.manage import add as add_source

    settings = Settings()
    values = parse_values(setting or [], "--set")
    with services() as parts, parts.db.session() as session:
        add_source(
            session, Sealer.from_settings(settings), CLI_CALLER, name, kind, collection,
            values, ask_secrets(secret or []), interval or settings.source_interval,
        )  # fmt: skip
    typer.echo(f"added {kind} source {name} → {collection}")


@sources_cli.command("list")
def list_sources() -> None:
    """Every source: last sync, counts, next sync, last error."""
    from core.secrets import Sealer
    from sources.manage import public, visible

    sealer = Sealer.from_settings(Settings())
    table = Table("name", "kind", "collection", "last sync", "counts", "next sync", "error")
    with services() as parts, parts.db.session() as session:
        for source, coll in visible(session, CLI_CALLER):
            row = public(session, sealer, source, coll)
            table.add_row(
                row["name"], row["kind"], row["collection"], when(row["last_sync"]),
                counts_text(row["counts"]), when(row["next_sync"]), row["error"] or "",
            )  # fmt: skip
    Console(width=200).print(table)


@sources_cli.command("sync")
def sync(
    name: str,
    wait: Annotated[bool, typer.Option(help="Wait until its documents are ingested.")] = False,
) -> None:
    """Sync a source now, in this process (the worker ingests what it queues)."""
    from app.intake import Intake
    from sources.manage import find
    from sources.sync import Syncer
    from worker.celery_app import make_celery

    with services() as parts:
        with parts.db.session() as session:
            source_id = find(session, CLI_CALLER, name)[0].id
        syncer = Syncer(parts, Intake(parts, make_celery(parts.settings)))
        done = syncer.run(source_id, f"cli-{uuid.uuid4().hex[:12]}")
        if done is None:
            typer.echo(f"{name} is being synced already; try again when that sync ends", err=True)
            raise typer.Exit(1)
        typer.echo(f"{name}: {counts_text(done['counts'])}")
        for note in done["counts"].get("notes", []):
            typer.echo(f"  {note}")
        if done["error"]:
            typer.echo(f"error: {done['error']}", err=True)
            raise typer.Exit(1)
        if wait:
            wait_settled(parts, source_id)


def wait_settled(parts: Services, source_id: str, poll: float = 1.0) -> None:
    """Wait until none of the source's documents is queued or processing."""
    from sqlalchemy import func, select

    from core.db import PROCESSING, QUEUED, Document, SourceItem

    busy = (
        select(func.count(Document.id))
        .join(SourceItem, SourceItem.document_id == Document.id)
        .where(SourceItem.source_id == source_id, Document.status.in_((QUEUED, PROCESSING)))
    )
    while True:
        with parts.db.session() as session:
            if not session.scalar(busy):
                return
        time.sleep(poll)


@sources_cli.command("remove")
def remove(name: str) -> None:
    """Remove a source and every document it brought."""
    from app.intake import Intake
    from sources.manage import remove as remove_source
    from worker.celery_app import make_celery

    with services() as parts, parts.db.session() as session:
        intake = Intake(parts, make_celery(parts.settings))
        gone = remove_source(session, intake, parts.settings, CLI_CALLER, name)
    typer.echo(f"removed {name} and its {gone} document(s)")


def counts_text(counts: dict[str, Any]) -> str:
    """'new 3, changed 1, deleted 0, failed 0' (and waiting, when any)."""
    if not counts:
        return "never synced"
    shown = ["new", "changed", "deleted", "failed", "unchanged"]
    if counts.get("waiting"):
        shown.append("waiting")
    return ", ".join(f"{key} {counts.get(key, 0)}" for key in shown)


def when(moment: Any) -> str:
    """A moment for a table: UTC, to the second."""
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"
