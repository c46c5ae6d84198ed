"""The v1 API's requests and how their answers read, shared by the sync and async clients."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Generic, TypeVar

import httpx

from gptu_client.errors import ConnectionFailed, StreamError, error_of
from gptu_client.models import (
    Accepted,
    Answer,
    ChatEvent,
    Collection,
    Document,
    Me,
    Message,
    Passage,
    chat_event,
)

T = TypeVar("T")
FileLike = str | Path | tuple[str, bytes | IO[bytes]]
DEFAULT_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request and the reading of its JSON answer."""

    method: str
    path: str
    read: Callable[[Any], T]
    json: Any = None
    params: dict[str, str] | None = None


def address(url: str | None) -> str:
    """The API's base URL: given, else GPTU_API_URL, else the local default."""
    return (url or os.environ.get("GPTU_API_URL") or DEFAULT_URL).rstrip("/")


def sign_in(key: str | None) -> dict[str, str]:
    """The Authorization header of a key: given, else GPTU_API_KEY (none without either)."""
    key = key if key is not None else os.environ.get("GPTU_API_KEY", "")
    return {"Authorization": f"Bearer {key}"} if key else {}


def finish(response: httpx.Response, call: Call[T]) -> T:
    """The answer read, or the API's refusal raised as a typed exception."""
    if response.status_code >= 400:
        raise error_of(response)
    return call.read(response.json() if response.content else None)


def unreachable(url: str, exc: httpx.TransportError) -> ConnectionFailed:
    """The error for an API that did not answer."""
    return ConnectionFailed(f"cannot reach gptu at {url}: {exc!r}")


def me() -> Call[Me]:
    """`GET /v1/me`."""
    return Call("GET", "/v1/me", Me.of)


def list_collections() -> Call[list[Collection]]:
    """`GET /v1/collections`: those the key's user may read or add to."""
    return Call("GET", "/v1/collections", lambda rows: [Collection.of(r) for r in rows])


def create_collection(
    name: str, readers: Sequence[str] | None, writers: Sequence[str] | None
) -> Call[Collection]:
    """`POST /v1/collections`."""
    body: dict[str, Any] = {"name": name}
    if readers is not None:
        body["readers"] = list(readers)
    if writers is not None:
        body["writers"] = list(writers)
    return Call("POST", "/v1/collections", Collection.of, json=body)


def list_documents(
    collection: str | None, status: str | None, limit: int | None
) -> Call[list[Document]]:
    """`GET /v1/documents`, newest first."""
    given = (("collection", collection), ("status", status), ("limit", limit))
    params = {k: str(v) for k, v in given if v is not None}
    return Call("GET", "/v1/documents", lambda rows: [Document.of(r) for r in rows], params=params)


def get_document(document_id: str) -> Call[Document]:
    """`GET /v1/documents/{id}`."""
    return Call("GET", f"/v1/documents/{document_id}", Document.of)


def delete_document(document_id: str) -> Call[None]:
    """`DELETE /v1/documents/{id}`."""
    return Call("DELETE", f"/v1/documents/{document_id}", lambda _: None)


def accepted(rows: list[dict[str, Any]]) -> list[Accepted]:
    """The answer of `POST /v1/documents`."""
    return [Accepted.of(r) for r in rows]


def upload_parts(stack: ExitStack, files: Sequence[FileLike]) -> list[tuple[str, Any]]:
    """Multipart `file` parts: paths are opened (closed with the stack), pairs sent as given."""
    parts: list[tuple[str, Any]] = []
    for item in files:
        if isinstance(item, str | Path):
            path = Path(item)
            parts.append(("file", (path.name, stack.enter_context(path.open("rb")))))
        else:
            parts.append(("file", item))
    return parts


def search(query: str, k: int | None, collections: Sequence[str] | None) -> Call[list[Passage]]:
    """`POST /v1/search`: hybrid search over the collections the key's user may read."""
    body: dict[str, Any] = {"query": query}
    if k is not None:
        body["k"] = k
    if collections is not None:
        body["collections"] = list(collections)
    return Call("POST", "/v1/search", lambda data: [Passage.of(r) for r in data["results"]], body)


def chat(
    question: str | Sequence[Message],
    collections: Sequence[str] | None,
    k: int | None,
    stream: bool,
    conversation_id: str | None = None,
    save: bool = True,
) -> Call[Answer]:
    """`POST /v1/chat`: a question, or a conversation whose last message is the question;
    the turn goes into the saved conversation `conversation_id` (or a new one) unless not save."""
    if isinstance(question, str):
        messages: list[Any] = [{"role": "user", "content": question}]
    else:
        messages = [dict(m) for m in question]
    body: dict[str, Any] = {"messages": messages, "stream": stream}
    if collections is not None:
        body["collections"] = list(collections)
    if k is not None:
        body["k"] = k
    if conversation_id is not None:
        body["conversation_id"] = conversation_id
    if not save:
        body["save"] = False
    return Call("POST", "/v1/chat", Answer.of, body)


class EventReader:
    """Server-sent events line by line: `feed` returns the event that a blank line completes."""

    def __init__(self) -> None:
        self.name = "message"
        self.data: list[str] = []

    def feed(self, line: str) -> ChatEvent | None:
        """Take one line (without its line ending); an `error` event is raised as StreamError."""
        if line:
            field, _, value = line.partition(":")
            if field == "event":
                self.name = value.removeprefix(" ")
            elif field == "data":
                self.data.append(value.removeprefix(" "))
            return None
        name, data = self.name, "\n".join(self.data)
        self.name, self.data = "message", []
        if not data:
            return None
        payload = json.loads(data)
        if name == "error":
            code, message = str(payload.get("code", "error")), str(payload.get("message", ""))
            raise StreamError(200, code, message)
        return chat_event(name, payload)
