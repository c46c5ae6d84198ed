"""Request and response bodies of the v1 API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from answer.quote import Quote
from answer.rag import Source
from core.db import Document
from ingest.passage import Passage

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


GRANTS = Field(
    None, max_length=100, description="Group names, `user:<name>` or `everyone`; default: you."
)


class CollectionIn(BaseModel):
    """A collection to create; readers and writers are group names."""

    name: str = Field(pattern=NAME_PATTERN, description="Letters, digits, _ . - (max 64).")
    readers: list[str] | None = GRANTS
    writers: list[str] | None = GRANTS


class CollectionAccessIn(BaseModel):
    """New readers and/or writers of a collection."""

    readers: list[str] | None = GRANTS
    writers: list[str] | None = GRANTS


class AccessOut(BaseModel):
    """What the caller may do with a collection."""

    read: bool
    write: bool
    manage: bool


class CollectionOut(BaseModel):
    """A collection; counts only for those who may read it, grants also for its owner."""

    name: str
    embedder: str
    readers: list[str]
    writers: list[str]
    owner: str | None
    documents: int | None
    access: AccessOut
    created_at: datetime


class DocumentOut(BaseModel):
    """A document and its ingestion state."""

    id: str
    filename: str
    collection: str
    status: str
    error: str | None
    pages: int
    chunks: int
    sha256: str
    size: int
    flagged: int = Field(0, description="Chunks that look like instructions to an assistant.")
    redacted: int = Field(0, description="Personal data items redacted (GPTU_REDACT_PII).")
    stage: str | None = Field(
        None, description="While processing: parsing, ocr, embedding or indexing."
    )
    progress: float | None = Field(
        None, description="While processing: the share of its stage done so far, 0 to 1."
    )
    ocr_pages: int = Field(0, description="Pages read by OCR (scanned pages or images).")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, doc: Document, collection: str) -> DocumentOut:
        """The public view of a document row."""
        return cls(
            id=doc.id,
            filename=doc.filename,
            collection=collection,
            status=doc.status,
            error=doc.error,
            pages=doc.pages,
            chunks=doc.chunks,
            sha256=doc.sha256,
            size=doc.size,
            flagged=doc.flagged or 0,
            redacted=doc.redacted or 0,
            stage=doc.stage if doc.status == "processing" else None,
            progress=doc.progress if doc.status == "processing" else None,
            ocr_pages=doc.ocr_pages or 0,
            created_at=aware(doc.created_at),
            updated_at=aware(doc.updated_at),
        )


class AcceptedOut(BaseModel):
    """A file as accepted by an upload."""

    id: str
    filename: str
    status: str
    error: str | None = None


class SummaryOut(BaseModel):
    """How many documents are in each state, and how much is still to be read."""

    queued: int
    processing: int
    ready: int
    failed: int
    bytes_waiting: int = Field(description="Size of the queued and processing files, in bytes.")


class DeletedOut(BaseModel):
    """What a delete removed."""

    id: str
    deleted: bool = True


class SearchIn(BaseModel):
    """A search over one or more collections."""

    query: str = Field(min_length=1, max_length=4000)
    k: int | None = Field(None, ge=1, le=100, description="Default: GPTU_SEARCH_K.")
    collections: list[str] | None = Field(None, description="Default: every collection.")

    @field_validator("query")
    @classmethod
    def not_blank(cls, value: str) -> str:
        """A query must contain something to look for."""
        if not value.strip():
            raise ValueError("query is blank")
        return value


class SearchOut(BaseModel):
    """Search results, best first."""

    results: list[Passage]


def aware(moment: datetime) -> datetime:
    """SQLite drops time zones; every stored moment is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


MAX_QUESTION_CHARS = 4000
# Any one message of a conversation (earlier turns are tokenised, and the previous question
# embedded, on every request).
MAX_MESSAGE_CHARS = 20_000


class MessageIn(BaseModel):
    """One turn of a conversation."""

    role: Literal["user", "assistant", "system"]
    content: str = Field(max_length=MAX_MESSAGE_CHARS)


class ChatIn(BaseModel):
    """A conversation whose last message is the question."""

    messages: list[MessageIn] = Field(min_length=1, max_length=50)
    collections: list[str] | None = Field(None, description="Default: every collection.")
    stream: bool = True
    k: int | None = Field(None, ge=1, le=20, description="Passages to retrieve.")
    conversation_id: str | None = Field(
        None,
        max_length=64,
        description="Continue this saved conversation of yours: its turns are the history and "
        "only the last message is read. Default: a new conversation.",
    )
    save: bool = Field(True, description="Keep the turn in a saved conversation.")

    @field_validator("messages")
    @classmethod
    def ends_with_a_question(cls, messages: list[MessageIn]) -> list[MessageIn]:
        """The last message must be a non-blank user question of sensible length."""
        last = messages[-1]
        if last.role != "user":
            raise ValueError("the last message must come from the user")
        if not last.content.strip():
            raise ValueError("the question is blank")
        if len(last.content) > MAX_QUESTION_CHARS:
            raise ValueError(f"the question is longer than {MAX_QUESTION_CHARS} characters")
        return messages


class Read(BaseModel):
    """What the model read of one source (its best units, or all of it)."""

    n: int = Field(description="The source, as numbered in `sources`.")
    text: str


class ChatOut(BaseModel):
    """A whole answer (stream=false)."""

    answer: str
    quote: list[Quote] = Field(description="Source sentences that most likely answer, verbatim.")
    citations: list[int]
    sources: list[Source]
    read: list[Read] = Field(
        default_factory=list, description="What the model read of each source, verbatim."
    )
    trace_id: str | None
    conversation_id: str | None = Field(
        None, description="The saved conversation the turn was added to (null: not saved)."
    )


class ModelComparison(BaseModel):
    """The last `gptu eval --models` run: each chat model's figures on one question set,
    answered in-process the way the API answers (kept in GPTU_DATA_DIR/eval/models-last.json)."""

    at: datetime = Field(description="When the comparison finished.")
    file: str = Field(description="The question file's name.")
    collection: str = Field(description="The collection searched.")
    models: list[str] = Field(description="The models compared, in the order they ran.")
    figures: dict[str, dict[str, int | float | None]] = Field(
        description="By model: facts_seen, facts_answer, answer_correct, abstention, "
        "false_abstention, ttft_p50_s, tokens_per_s, questions (null: nothing to count)."
    )
    skipped: list[dict[str, int | str]] = Field(
        default_factory=list, description="Malformed lines of the file: line and error."
    )
