"""Sources: web sites, WebDAV folders, mailboxes, git branches, Slack channels and server
folders that keep a collection current (admins, or the collection's owner)."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, status
from sqlalchemy.orm import Session

from api.auth import CurrentUser
from api.deps import IntakeDep, ServicesDep, SessionDep
from api.schemas import DeletedOut, aware
from api.source_schemas import KindOut, SourceChange, SourceIn, SourceOut
from core.accounts import Caller
from core.secrets import Sealer
from sources import manage
from sources.kinds import MODULES, kind
from worker.celery_app import SOURCES_QUEUE

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/sources", tags=["sources"])


def get_sealer(services: ServicesDep) -> Sealer:
    """This installation's sealer of sources' secrets."""
    return Sealer.from_settings(services.settings)


SealerDep = Annotated[Sealer, Depends(get_sealer)]


def shown(session: Session, sealer: Sealer, caller: Caller, name: str) -> SourceOut:
    """The source called name as the caller, one of its managers, sees it."""
    return source_out(manage.public(session, sealer, *manage.find(session, caller, name)))


def source_out(row: dict[str, Any]) -> SourceOut:
    """The public row, its moments as UTC."""
    for field in ("last_sync", "next_sync", "created_at"):
        if row[field] is not None:
            row[field] = aware(row[field])
    return SourceOut(**row)


@router.get("/kinds")
def list_kinds(caller: CurrentUser) -> list[KindOut]:
    """The kinds of source, their settings (as JSON Schema) and the secrets they take."""
    found = [kind(name) for name in MODULES]
    return [
        KindOut(name=k.name, summary=k.summary, secrets=list(k.secrets), admin_only=k.admin_only,
                settings=k.settings.model_json_schema())
        for k in found
    ]  # fmt: skip


@router.get("")
def list_sources(caller: CurrentUser, session: SessionDep, sealer: SealerDep) -> list[SourceOut]:
    """The sources you manage (all of them for an admin): last sync, counts, next, error."""
    rows = manage.visible(session, caller)
    return [source_out(manage.public(session, sealer, s, c)) for s, c in rows]


@router.post("", status_code=status.HTTP_201_CREATED)
def add_source(
    body: SourceIn,
    caller: CurrentUser,
    session: SessionDep,
    services: ServicesDep,
    sealer: SealerDep,
) -> SourceOut:
    """Add a source to a collection you own (any collection for an admin); its first sync
    starts within GPTU_SOURCE_CHECK seconds."""
    interval = body.interval_minutes or services.settings.source_interval
    source = manage.add(session, sealer, caller, body.name, body.kind, body.collection,
                        body.settings, body.secrets, interval)  # fmt: skip
    return shown(session, sealer, caller, source.name)


@router.get("/{name}")
def get_source(name: str, caller: CurrentUser, session: SessionDep, sealer: SealerDep) -> SourceOut:
    """One source."""
    return shown(session, sealer, caller, name)


@router.patch("/{name}")
def change_source(
    name: str, body: SourceChange, caller: CurrentUser, session: SessionDep, sealer: SealerDep
) -> SourceOut:
    """Change its settings, secrets, interval, or pause it (enabled: false)."""
    manage.change(session, sealer, caller, name, body.model_dump())
    return shown(session, sealer, caller, name)


@router.post("/{name}/sync", status_code=status.HTTP_202_ACCEPTED)
def sync_source(
    name: str, caller: CurrentUser, session: SessionDep, sealer: SealerDep, intake: IntakeDep
) -> SourceOut:
    """Sync now: a worker starts it at once (when Redis is down, beat sends it once it is back)."""
    source = manage.due_now(session, caller, name)
    try:
        intake.celery.send_task("sources.sync", args=[source.id], queue=SOURCES_QUEUE, retry=False)
    except Exception as exc:  # kombu raises many types for a broker that is down
        log.warning("queue unavailable, source %s waits for beat: %s", name, exc)
    return shown(session, sealer, caller, name)


@router.delete("/{name}")
def remove_source(
    name: str, caller: CurrentUser, session: SessionDep, services: ServicesDep, intake: IntakeDep
) -> DeletedOut:
    """Remove the source and every document it brought (their chunks first)."""
    manage.remove(session, intake, services.settings, caller, name)
    return DeletedOut(id=name)
