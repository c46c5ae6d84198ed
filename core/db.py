"""SQL metadata: collections and documents (SQLAlchemy 2; SQLite with WAL by default)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    sessionmaker,
)

from core import schema

QUEUED, PROCESSING, READY, FAILED = "queued", "processing", "ready", "failed"
STATES = (QUEUED, PROCESSING, READY, FAILED)


def utcnow() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(UTC)


def new_id() -> str:
    """A fresh random id."""
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    """Base of all tables."""


class Collection(Base):
    """A named set of documents, embedded by one embedder."""

    __tablename__ = "collections"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    embedder: Mapped[str] = mapped_column(String(128))
    readers: Mapped[list[str]] = mapped_column(JSON, default=list)
    writers: Mapped[list[str]] = mapped_column(JSON, default=list)
    owner: Mapped[str | None] = mapped_column(String(64), default=None)
    owner_id: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Document(Base):
    """One stored file and where it is on its way to being searchable."""

    __tablename__ = "documents"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    collection_id: Mapped[str] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(1024))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=QUEUED, index=True)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    chunks: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    uploaded_by: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    uploaded_by_id: Mapped[str | None] = mapped_column(String(32), default=None, index=True)
    flagged: Mapped[int | None] = mapped_column(Integer, default=0)
    redacted: Mapped[int | None] = mapped_column(Integer, default=0)
    stage: Mapped[str | None] = mapped_column(String(16), default=None)
    progress: Mapped[float | None] = mapped_column(Float, default=None)
    ocr_pages: Mapped[int | None] = mapped_column(Integer, default=0, server_default="0")
    enqueued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    # The task reading a processing document: another task for it skips it (app.store.claim).
    claimed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    # How the parser reads the stored bytes when the name is a label, not a file name (a
    # source's "Page title · URL" read as ".html"); empty for uploads, read by their name.
    parse_as: Mapped[str] = mapped_column(String(16), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    @property
    def parse_name(self) -> str:
        """The name whose extension picks the parser."""
        return self.filename + self.parse_as


class Source(Base):
    """A place documents come from and are kept current from (sources/): a web site, a
    WebDAV folder, a mailbox, a git branch, Slack channels, a server folder."""

    __tablename__ = "sources"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    collection_id: Mapped[str] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), index=True
    )
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # the secrets (passwords, tokens) as one Fernet token (core.secrets); never shown
    sealed: Mapped[str | None] = mapped_column(Text, default=None)
    interval_minutes: Mapped[int] = mapped_column(Integer, default=60)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # the connector's own cursor (last commit, UIDVALIDITY, page validators)
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # one sync at a time: the holder (a task id) until lock_until
    lock_holder: Mapped[str | None] = mapped_column(String(64), default=None)
    lock_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    next_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text, default=None)


class SourceItem(Base):
    """An item of a source as gptu last read it, and the document that holds it."""

    __tablename__ = "source_items"
    __table_args__ = (UniqueConstraint("source_id", "key_hash"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64))  # sha256 of key: keys may be long URLs
    key: Mapped[str] = mapped_column(Text)
    version: Mapped[str] = mapped_column(Text)
    document_id: Mapped[str | None] = mapped_column(
        ForeignKey("documents.id", ondelete="SET NULL"), default=None, index=True
    )


memberships = Table(
    "memberships",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
)


class User(Base):
    """A person (or service) who calls gptu with API keys."""

    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    email: Mapped[str | None] = mapped_column(String(320), default=None, index=True)
    admin: Mapped[bool] = mapped_column(Boolean, default=False)
    slack_id: Mapped[str | None] = mapped_column(String(32), default=None, index=True)
    default_collection: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    groups: Mapped[list[Group]] = relationship(secondary=memberships, lazy="selectin")
    # Web sign-in: an argon2id hash (None: no password), the identity provider's subject
    # (`<issuer> <sub>`, None: not an SSO user); a disabled user's sessions and keys stop.
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    sso_subject: Mapped[str | None] = mapped_column(String(512), default=None, unique=True)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class WebSession(Base):
    """A signed-in browser: its cookie's sha256, whose it is, and until when it holds."""

    __tablename__ = "web_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the cookie
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(16))  # password | sso | link
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    address: Mapped[str | None] = mapped_column(String(64), default=None)
    agent: Mapped[str | None] = mapped_column(String(200), default=None)


class SignInLink(Base):
    """A one-time link that lets a person set their password (stored as its sha256)."""

    __tablename__ = "sign_in_links"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the token
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_by: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class SsoLogin(Base):
    """An OpenID Connect sign-in on its way: its state (sha256), nonce and PKCE verifier."""

    __tablename__ = "sso_logins"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the state
    nonce: Mapped[str] = mapped_column(String(128))
    verifier: Mapped[str] = mapped_column(String(128))
    return_to: Mapped[str] = mapped_column(String(200), default="/")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Group(Base):
    """A named set of users; collections grant reading and writing to groups."""

    __tablename__ = "groups"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiKey(Base):
    """An API key, stored as its sha256 only; revoked keys stay for the record."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class AuditEvent(Base):
    """Who did what to which thing, and when."""

    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(32), index=True)
    target: Mapped[str] = mapped_column(String(256))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


@dataclass(frozen=True)
class Pool:
    """How many connections a process keeps, may add under load, and how long a caller waits."""

    size: int = 10
    overflow: int = 20
    timeout: float = 10


def make_engine(url: str, pool: Pool | None = None) -> Engine:
    """An engine for url; SQLite gets WAL, a busy timeout and foreign keys.

    A caller that waits longer than `pool.timeout` for a connection gets sqlalchemy's
    TimeoutError, which the API answers with 503 (not a hang, not a 500).
    """
    pool = pool or Pool()
    sizes: dict[str, Any] = {
        "pool_size": pool.size, "max_overflow": pool.overflow, "pool_timeout": pool.timeout,
    }  # fmt: skip
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **sizes
        )
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        # UTF-8 on the wire whatever the database's encoding: on a SQL_ASCII database (a
        # cluster initdb'd under the POSIX locale) psycopg would otherwise hand back bytes, and
        # SQLAlchemy's first connect fails with "cannot use a string pattern on a bytes-like
        # object".
        engine = create_engine(
            url, pool_pre_ping=True, connect_args={"client_encoding": "utf8"}, **sizes
        )
    return engine


class Database:
    """An engine and its session factory, on a database whose schema is this gptu's.

    An empty database gets every migration; one at an older revision raises SchemaOutdated
    (`gptu migrate` upgrades it). `check=False` opens any database (migrate, backup).
    """

    def __init__(self, url: str, pool: Pool | None = None, check: bool = True) -> None:
        self.engine = make_engine(url, pool)
        if check:
            schema.prepare(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with self.sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def ping(self) -> None:
        """Raise if the database cannot answer."""
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
