"""Request and response bodies of /v1/sources."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.schemas import NAME_PATTERN


class SourceIn(BaseModel):
    """A new source: what it reads, the collection it keeps current, how often."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=NAME_PATTERN.replace("A-Z", ""), description="a-z 0-9 _ . - (64).")
    kind: str = Field(description="web, webdav, imap, git, slack or folder (admins only).")
    collection: str = Field(description="The collection it syncs into (you own it, or admin).")
    settings: dict[str, Any] = Field(
        default_factory=dict, description="The kind's settings (GET /v1/sources/kinds)."
    )
    secrets: dict[str, str] = Field(
        default_factory=dict,
        description="Passwords or tokens by name; stored encrypted, never shown again.",
    )
    interval_minutes: int | None = Field(
        None, ge=1, le=525600, description="Minutes between syncs (default GPTU_SOURCE_INTERVAL)."
    )


class SourceChange(BaseModel):
    """Changes to a source; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")
    settings: dict[str, Any] | None = Field(None, description="All its settings, replaced.")
    secrets: dict[str, str] | None = Field(
        None, description="Secrets to set; an empty value removes one; others stay."
    )
    interval_minutes: int | None = Field(None, ge=1, le=525600)
    enabled: bool | None = None


class SourceOut(BaseModel):
    """A source as its managers see it: never its secrets' values."""

    name: str
    kind: str
    collection: str
    settings: dict[str, Any]
    secrets: list[str] = Field(description="The names of the secrets set.")
    interval_minutes: int
    enabled: bool
    syncing: bool = Field(description="A sync is running now.")
    last_sync: datetime | None
    next_sync: datetime | None
    counts: dict[str, Any] = Field(
        description="The last sync: new, changed, deleted, failed, unchanged, waiting, notes."
    )
    error: str | None = Field(
        description="Why the last sync failed, in words; null when it did not."
    )
    documents: int
    created_by: str | None
    created_at: datetime


class KindOut(BaseModel):
    """A kind of source and what it takes."""

    name: str
    summary: str
    secrets: list[str]
    admin_only: bool
    settings: dict[str, Any] = Field(description="JSON Schema of its settings.")
