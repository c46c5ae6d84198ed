"""Typed clients of the gptu v1 API: `Gptu` (blocking) and `AsyncGptu`, signed in with one key."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import ExitStack
from types import TracebackType
from typing import Any, TypeVar

import httpx

from gptu_client import calls
from gptu_client.calls import Call, EventReader, FileLike, address, finish, sign_in, unreachable
from gptu_client.errors import error_of
from gptu_client.models import (
    Accepted,
    Answer,
    ChatEvent,
    Collection,
    Document,
    Me,
    Message,
    Passage,
)

T = TypeVar("T")
TIMEOUT = 300.0  # an answer may wait its turn for the model, then be generated


class Gptu:
    """The v1 API as the key's user sees it; every refusal raises a `gptu_client.APIError`.

    `Gptu()` reads GPTU_API_URL and GPTU_API_KEY, as the `gptu` command does.
    """

    def __init__(
        self,
        url: str | None = None,
        key: str | None = None,
        *,
        timeout: float = TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = address(url)
        self.http = httpx.Client(
            base_url=self.url, headers=sign_in(key), timeout=timeout, transport=transport
        )

    def __enter__(self) -> Gptu:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections."""
        self.http.close()

    def send(self, call: Call[T], **extra: Any) -> T:
        """Make one request and read its answer."""
        try:
            response = self.http.request(
                call.method, call.path, json=call.json, params=call.params, **extra
            )
        except httpx.TransportError as exc:
            raise unreachable(self.url, exc) from exc
        return finish(response, call)

    def me(self) -> Me:
        """Who the key belongs to."""
        return self.send(calls.me())

    def list_collections(self) -> list[Collection]:
        """The collections the key's user may read or add to."""
        return self.send(calls.list_collections())

    def create_collection(
        self,
        name: str,
        *,
        readers: Sequence[str] | None = None,
        writers: Sequence[str] | None = None,
    ) -> Collection:
        """A new collection the key's user owns (readers and writers: group names)."""
        return self.send(calls.create_collection(name, readers, writers))

    def list_documents(
        self,
        *,
        collection: str | None = None,
        status: str | None = None,
        limit: int | None = None,
    ) -> list[Document]:
        """The documents the key's user may see, newest first (at most limit)."""
        return self.send(calls.list_documents(collection, status, limit))

    def get_document(self, document_id: str) -> Document:
        """One document and its state."""
        return self.send(calls.get_document(document_id))

    def delete_document(self, document_id: str) -> None:
        """Delete a document; its chunks leave both indexes before this returns."""
        self.send(calls.delete_document(document_id))

    def upload(self, collection: str, files: Sequence[FileLike]) -> list[Accepted]:
        """Queue files (paths, or (name, bytes or binary file) pairs) for ingestion."""
        with ExitStack() as stack:
            parts = calls.upload_parts(stack, files)
            call = Call("POST", "/v1/documents", calls.accepted)
            return self.send(call, data={"collection": collection}, files=parts)

    def wait_for(
        self, document_ids: Sequence[str], *, timeout: float = 600, interval: float = 0.5
    ) -> list[Document]:
        """The documents once each is ready or failed (TimeoutError after timeout seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            docs = [self.get_document(i) for i in document_ids]
            if all(d.done for d in docs):
                return docs
            if time.monotonic() > deadline:
                raise TimeoutError(f"documents not done within {timeout} s: {document_ids}")
            time.sleep(interval)

    def search(
        self, query: str, *, k: int | None = None, collections: Sequence[str] | None = None
    ) -> list[Passage]:
        """Passages best first, from the collections asked for (default: every readable one)."""
        return self.send(calls.search(query, k, collections))

    def chat(
        self,
        question: str | Sequence[Message],
        *,
        collections: Sequence[str] | None = None,
        k: int | None = None,
        conversation_id: str | None = None,
        save: bool = True,
    ) -> Answer:
        """The whole answer, with its quote, citations and sources; the turn is saved in the
        conversation `conversation_id` (or a new one, its id in the answer) unless save=False."""
        return self.send(calls.chat(question, collections, k, False, conversation_id, save))

    def chat_stream(
        self,
        question: str | Sequence[Message],
        *,
        collections: Sequence[str] | None = None,
        k: int | None = None,
        conversation_id: str | None = None,
        save: bool = True,
    ) -> Iterator[ChatEvent]:
        """The answer as it is made: Sources, Quotes, then Tokens, then Done (saved as `chat`)."""
        call = calls.chat(question, collections, k, True, conversation_id, save)
        try:
            with self.http.stream(call.method, call.path, json=call.json) as response:
                if response.status_code >= 400:
                    response.read()
                    raise error_of(response)
                reader = EventReader()
                for line in itertools.chain(response.iter_lines(), [""]):
                    if (event := reader.feed(line)) is not None:
                        yield event
        except httpx.TransportError as exc:
            raise unreachable(self.url, exc) from exc


class AsyncGptu:
    """`Gptu` for asyncio: the same methods, awaited (`chat_stream` is an async iterator)."""

    def __init__(
        self,
        url: str | None = None,
        key: str | None = None,
        *,
        timeout: float = TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = address(url)
        self.http = httpx.AsyncClient(
            base_url=self.url, headers=sign_in(key), timeout=timeout, transport=transport
        )

    async def __aenter__(self) -> AsyncGptu:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connections."""
        await self.http.aclose()

    async def send(self, call: Call[T], **extra: Any) -> T:
        """Make one request and read its answer."""
        try:
            response = await self.http.request(
                call.method, call.path, json=call.json, params=call.params, **extra
            )
        except httpx.TransportError as exc:
            raise unreachable(self.url, exc) from exc
        return finish(response, call)

    async def me(self) -> Me:
        """Who the key belongs to."""
        return await self.send(calls.me())

    async def list_collections(self) -> list[Collection]:
        """The collections the key's user may read or add to."""
        return await self.send(calls.list_collections())

    async def create_collection(
        self,
        name: str,
        *,
        readers: Sequence[str] | None = None,
        writers: Sequence[str] | None = None,
    ) -> Collection:
        """A new collection the key's user owns (readers and writers: group names)."""
        return await self.send(calls.create_collection(name, readers, writers))

    async def list_documents(
        self,
        *,
        collection: str | None = None,
        status: str | None = None,
        limit: int | None = None,
    ) -> list[Document]:
        """The documents the key's user may see, newest first (at most limit)."""
        return await self.send(calls.list_documents(collection, status, limit))

    async def get_document(self, document_id: str) -> Document:
        """One document and its state."""
        return await self.send(calls.get_document(document_id))

    async def delete_document(self, document_id: str) -> None:
        """Delete a document; its chunks leave both indexes before this returns."""
        await self.send(calls.delete_document(document_id))

    async def upload(self, collection: str, files: Sequence[FileLike]) -> list[Accepted]:
        """Queue files (paths, or (name, bytes or binary file) pairs) for ingestion."""
        with ExitStack() as stack:
            parts = calls.upload_parts(stack, files)
            call = Call("POST", "/v1/documents", calls.accepted)
            return await self.send(call, data={"collection": collection}, files=parts)

    async def wait_for(
        self, document_ids: Sequence[str], *, timeout: float = 600, interval: float = 0.5
    ) -> list[Document]:
        """The documents once each is ready or failed (TimeoutError after timeout seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            docs = [await self.get_document(i) for i in document_ids]
            if all(d.done for d in docs):
                return docs
            if time.monotonic() > deadline:
                raise TimeoutError(f"documents not done within {timeout} s: {document_ids}")
            await asyncio.sleep(interval)

    async def search(
        self, query: str, *, k: int | None = None, collections: Sequence[str] | None = None
    ) -> list[Passage]:
        """Passages best first, from the collections asked for (default: every readable one)."""
        return await self.send(calls.search(query, k, collections))

    async def chat(
        self,
        question: str | Sequence[Message],
        *,
        collections: Sequence[str] | None = None,
        k: int | None = None,
        conversation_id: str | None = None,
        save: bool = True,
    ) -> Answer:
        """The whole answer, with its quote, citations and sources; the turn is saved in the
        conversation `conversation_id` (or a new one, its id in the answer) unless save=False."""
        return await self.send(calls.chat(question, collections, k, False, conversation_id, save))

    async def chat_stream(
        self,
        question: str | Sequence[Message],
        *,
        collections: Sequence[str] | None = None,
        k: int | None = None,
        conversation_id: str | None = None,
        save: bool = True,
    ) -> AsyncIterator[ChatEvent]:
        """The answer as it is made: Sources, Quotes, then Tokens, then Done (saved as `chat`)."""
        call = calls.chat(question, collections, k, True, conversation_id, save)
        try:
            async with self.http.stream(call.method, call.path, json=call.json) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise error_of(response)
                reader = EventReader()
                async for line in response.aiter_lines():
                    if (event := reader.feed(line)) is not None:
                        yield event
                if (event := reader.feed("")) is not None:
                    yield event
        except httpx.TransportError as exc:
            raise unreachable(self.url, exc) from exc
