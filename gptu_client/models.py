"""What the v1 API returns, as frozen dataclasses (fields the server adds later are ignored)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypedDict, TypeVar, Union

T = TypeVar("T")


class Message(TypedDict):
    """One turn of a conversation, as `chat` sends it."""

    role: Literal["user", "assistant"]
    content: str


def known(cls: type[T], data: dict[str, Any], **nested: Any) -> T:
    """An instance of the dataclass from the fields of data it declares (nested ones given)."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values = {k: v for k, v in data.items() if k in names}
    return cls(**{**values, **nested})


def moment(value: str | None) -> datetime | None:
    """An ISO 8601 time from the API (always with its zone)."""
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class Passage:
    """A chunk of one document, as search finds it."""

    document_id: str
    chunk: int
    collection: str
    filename: str
    text: str
    page: int | None = None
    section: str | None = None
    score: float = 0.0
    similarity: float | None = None
    lexical: float | None = None

    @property
    def id(self) -> str:
        """The chunk's id, `<document_id>:<chunk>`."""
        return f"{self.document_id}:{self.chunk}"

    @classmethod
    def of(cls, data: dict[str, Any]) -> Passage:
        """From the API's JSON."""
        return known(cls, data)


@dataclass(frozen=True)
class Source(Passage):
    """A passage numbered for citation as [n] in an answer."""

    n: int = 0
    label: str = ""
    flagged: bool = False

    @classmethod
    def of(cls, data: dict[str, Any]) -> Source:
        """From the API's JSON."""
        return known(cls, data)


@dataclass(frozen=True)
class Quote:
    """Verbatim source sentences that most likely answer: `sources[n - 1].text[start:end]`."""

    n: int
    label: str
    filename: str
    page: int | None
    text: str
    start: int = 0
    end: int = 0
    score: float = 0.0

    @classmethod
    def of(cls, data: dict[str, Any]) -> Quote:
        """From the API's JSON."""
        return known(cls, data)


@dataclass(frozen=True)
class Answer:
    """A whole answer with its quote, citations and numbered sources."""

    answer: str
    quote: list[Quote] = field(default_factory=list)
    citations: list[int] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    trace_id: str | None = None
    conversation_id: str | None = None

    @classmethod
    def of(cls, data: dict[str, Any]) -> Answer:
        """From the API's JSON."""
        quote = [Quote.of(q) for q in data.get("quote", [])]
        sources = [Source.of(s) for s in data.get("sources", [])]
        return known(cls, data, quote=quote, sources=sources)


@dataclass(frozen=True)
class Access:
    """What the caller may do with a collection."""

    read: bool
    write: bool
    manage: bool


@dataclass(frozen=True)
class Collection:
    """A collection; counts and grants only for those who may read it."""

    name: str
    embedder: str
    readers: list[str]
    writers: list[str]
    owner: str | None
    documents: int | None
    access: Access
    created_at: datetime | None = None

    @classmethod
    def of(cls, data: dict[str, Any]) -> Collection:
        """From the API's JSON."""
        access = Access(**{k: bool(data["access"].get(k)) for k in ("read", "write", "manage")})
        return known(cls, data, access=access, created_at=moment(data.get("created_at")))


@dataclass(frozen=True)
class Document:
    """A document and its ingestion state: queued, processing (`stage`, `progress` 0 to 1),
    ready or failed (with `error`)."""

    id: str
    filename: str
    collection: str
    status: str
    error: str | None = None
    pages: int = 0
    chunks: int = 0
    sha256: str = ""
    size: int = 0
    flagged: int = 0
    redacted: int = 0
    ocr_pages: int = 0
    stage: str | None = None
    progress: float | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def done(self) -> bool:
        """Whether ingestion has finished (ready or failed)."""
        return self.status in ("ready", "failed")

    @classmethod
    def of(cls, data: dict[str, Any]) -> Document:
        """From the API's JSON."""
        times = {k: moment(data.get(k)) for k in ("created_at", "updated_at")}
        return known(cls, data, **times)


@dataclass(frozen=True)
class Accepted:
    """A file as an upload accepted it (queued), or refused it (failed, with `error`)."""

    id: str
    filename: str
    status: str
    error: str | None = None

    @classmethod
    def of(cls, data: dict[str, Any]) -> Accepted:
        """From the API's JSON."""
        return known(cls, data)


@dataclass(frozen=True)
class Me:
    """The key's user: name, admin flag and every group that grants access."""

    name: str
    admin: bool
    groups: list[str]

    @classmethod
    def of(cls, data: dict[str, Any]) -> Me:
        """From the API's JSON."""
        return known(cls, data)


@dataclass(frozen=True)
class Sources:
    """Stream event: the numbered passages the answer may cite (first)."""

    sources: list[Source]


@dataclass(frozen=True)
class Quotes:
    """Stream event: the verbatim quote, before any model output."""

    quote: list[Quote]


@dataclass(frozen=True)
class Token:
    """Stream event: a piece of the answer's text."""

    text: str


@dataclass(frozen=True)
class Done:
    """Stream event: the checked answer, its citations, trace id and saved conversation (last)."""

    answer: str
    citations: list[int]
    trace_id: str | None
    conversation_id: str | None = None


ChatEvent = Union[Sources, Quotes, Token, Done]  # noqa: UP007 (a runtime alias)


def chat_event(name: str, data: Any) -> ChatEvent | None:
    """The event of one server-sent event of `POST /v1/chat` (None for unknown names)."""
    if name == "sources":
        return Sources([Source.of(s) for s in data])
    if name == "quote":
        return Quotes([Quote.of(q) for q in data])
    if name == "token":
        return Token(str(data.get("text", "")))
    if name == "done":
        citations, trace_id = list(data.get("citations", [])), data.get("trace_id")
        return Done(str(data["answer"]), citations, trace_id, data.get("conversation_id"))
    return None
