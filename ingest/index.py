"""Where chunks are searched: the index protocol, Chroma (vectors) and rank fusion."""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from typing import Any, Protocol, TypeVar

import httpx

from core.errors import IndexUnavailable
from ingest.passage import Passage

T = TypeVar("T")
CHROMA_BATCH = 1000
RRF_K = 60
# Chroma names of gptu collections: "g" + embedder hash + "-" + collection hash.
GPTU_NAME = re.compile(r"^g[0-9a-f]{8}-[0-9a-f]{24}$")


class Index(Protocol):
    """A chunk index. Writes replace a document's chunks; reads filter by collection."""

    def replace_document(self, document_id: str, records: list[Passage]) -> None:
        """Make records the document's only chunks."""
        ...

    def replace_documents(self, records: dict[str, list[Passage]]) -> None:
        """Make each document's records its only chunks, for several documents at once."""
        ...

    def delete_document(self, document_id: str) -> None:
        """Remove every chunk of the document."""
        ...

    def count(self, document_id: str) -> int:
        """How many chunks the document has here."""
        ...

    def search(
        self, text: str, vector: Sequence[float], collections: list[str], k: int
    ) -> list[Passage]:
        """The best k chunks among the given collections, best first."""
        ...


def _meta(record: Passage) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "document_id": record.document_id,
        "n": record.chunk,
        "collection": record.collection,
        "filename": record.filename,
    }
    if record.page is not None:
        meta["page"] = record.page
    if record.section:
        meta["section"] = record.section
    return meta


class VectorIndex(Index, Protocol):
    """An index of vectors from several embedders, one space each."""

    def space(self, embedder_id: str) -> Index:
        """The index of one embedder's vectors (deletes still reach every space)."""
        ...


DOWN = (httpx.TransportError, ConnectionError, TimeoutError)


@contextlib.contextmanager
def reachable() -> Iterator[None]:
    """Chroma not answering becomes IndexUnavailable: 503 index_unavailable to an asker, a
    retry with backoff to ingestion."""
    try:
        yield
    except DOWN as exc:
        raise IndexUnavailable("the search index is not answering; try again shortly") from exc


class ChromaIndex:
    """Vectors in one Chroma collection per gptu collection and embedder.

    Searching a set of collections queries exactly those Chroma collections, so the
    permission filter is part of the query and costs nothing: a `where` filter over one
    shared Chroma collection scanned every row (50 ms at 10k chunks, 500 ms at 100k).
    Writes and searches use this embedder's space; deletes and counts reach every space, so
    that a document re-embedded by another embedder leaves nothing behind.
    """

    def __init__(self, client: Any, embedder_id: str) -> None:
        self.client = client
        self.embedder_id = embedder_id
        self.prefix = "g" + hashlib.sha1(embedder_id.encode()).hexdigest()[:8] + "-"
        self.handles: dict[str, Any] = {}
        self.spaces: dict[str, ChromaIndex] = {embedder_id: self}

    def space(self, embedder_id: str) -> ChromaIndex:
        """The same Chroma server's space for another embedder."""
        if embedder_id not in self.spaces:
            sibling = ChromaIndex(self.client, embedder_id)
            sibling.spaces = self.spaces
            self.spaces[embedder_id] = sibling
        return self.spaces[embedder_id]

    def chroma_name(self, collection: str) -> str:
        """Chroma's name for a gptu collection (3-63 safe characters)."""
        return self.prefix + hashlib.sha1(collection.encode()).hexdigest()[:24]

    def handle(self, collection: str) -> Any:
        """The Chroma collection behind a gptu collection, created on first use."""
        if collection not in self.handles:
            self.handles[collection] = self.client.get_or_create_collection(
                self.chroma_name(collection),
                metadata={"hnsw:space": "cosine", "gptu_collection": collection},
                embedding_function=None,
            )
        return self.handles[collection]

    def using(self, collection: str, action: Callable[[Any], T]) -> T:
        """Run action on the collection's Chroma handle; once more with a fresh handle if the
        cached one went stale (another process dropped and re-created that Chroma collection)."""
        with reachable():
            try:
                return action(self.handle(collection))
            except DOWN:
                raise
            except Exception:
                if self.handles.pop(collection, None) is None:
                    raise
                return action(self.handle(collection))

    def all_handles(self) -> list[Any]:
        """Every gptu Chroma collection, of every embedder."""
        with reachable():
            return [
                self.client.get_collection(c.name, embedding_function=None)
                for c in self.client.list_collections()
                if GPTU_NAME.match(c.name)
            ]

    def replace_document(self, document_id: str, records: list[Passage]) -> None:
        """Upsert the chunks, then drop any left over from a longer earlier run."""
        if not records:
            self.delete_document(document_id)
            return
        self.using(records[0].collection, lambda target: _replace(target, document_id, records))

    def replace_documents(self, records: dict[str, list[Passage]]) -> None:
        """Upsert several documents' chunks in one request per collection, then drop any left
        over from longer earlier runs in one more."""
        by_collection: dict[str, dict[str, list[Passage]]] = {}
        for document_id, passages in records.items():
            if not passages:
                self.delete_document(document_id)
                continue
            by_collection.setdefault(passages[0].collection, {})[document_id] = passages
        for collection, documents in by_collection.items():
            self.using(collection, partial(_replace_many, documents=documents))

    def delete_document(self, document_id: str) -> None:
        """Remove the document's vectors, wherever they are."""
        for handle in self.all_handles():
            with reachable():
                handle.delete(where={"document_id": document_id})

    def drop_collection(self, collection: str) -> None:
        """Remove a whole collection's vectors at once, in every embedder's space."""
        suffix = self.chroma_name(collection)[len(self.prefix) :]
        for space in self.spaces.values():
            space.handles.pop(collection, None)
        with reachable():
            every = self.client.list_collections()
        for c in every:
            if GPTU_NAME.match(c.name) and c.name.endswith("-" + suffix):
                with contextlib.suppress(Exception):  # already gone is fine
                    self.client.delete_collection(c.name)

    def drop_space(self, collection: str) -> None:
        """Remove a collection's vectors of this embedder only (after re-embedding it)."""
        self.handles.pop(collection, None)
        with contextlib.suppress(Exception):  # already gone is fine
            self.client.delete_collection(self.chroma_name(collection))

    def count(self, document_id: str) -> int:
        """Vectors stored for the document."""
        handles = self.all_handles()
        with reachable():
            return sum(
                len(h.get(where={"document_id": document_id}, include=[])["ids"]) for h in handles
            )

    def search(
        self, text: str, vector: Sequence[float], collections: list[str], k: int
    ) -> list[Passage]:
        """Nearest chunks by cosine distance among exactly the given collections."""
        hits: list[Passage] = []
        query = {
            "query_embeddings": [list(vector)],
            "n_results": k,
            "include": ["documents", "metadatas", "distances"],
        }
        for collection in collections:
            found = self.using(collection, lambda handle: handle.query(**query))
            rows = zip(
                found["ids"][0],
                found["documents"][0],
                found["metadatas"][0],
                found["distances"][0],
                strict=True,
            )
            for chunk_id, doc, meta, distance in rows:
                hits.append(_hit(chunk_id, doc, meta, 1.0 - float(distance)))
        return sorted(hits, key=lambda h: h.score, reverse=True)[:k]

    def ping(self) -> None:
        """Raise if the Chroma server does not answer."""
        with reachable():
            self.client.heartbeat()


def _replace(target: Any, document_id: str, records: list[Passage]) -> None:
    _replace_many(target, {document_id: records})


def _replace_many(target: Any, documents: dict[str, list[Passage]]) -> None:
    records = [r for passages in documents.values() for r in passages]
    for start in range(0, len(records), CHROMA_BATCH):
        batch = records[start : start + CHROMA_BATCH]
        target.upsert(
            ids=[r.id for r in batch],
            embeddings=[list(r.vector) for r in batch],
            documents=[r.text for r in batch],
            metadatas=[_meta(r) for r in batch],
        )
    leftovers: list[dict[str, Any]] = [
        {"$and": [{"document_id": document_id}, {"n": {"$gte": len(passages)}}]}
        for document_id, passages in documents.items()
    ]
    target.delete(where=leftovers[0] if len(leftovers) == 1 else {"$or": leftovers})


def _hit(chunk_id: str, text: str, meta: Any, score: float) -> Passage:
    page = meta.get("page")
    return Passage(
        document_id=str(meta["document_id"]),
        chunk=int(chunk_id.rsplit(":", 1)[1]),
        collection=str(meta["collection"]),
        filename=str(meta["filename"]),
        text=text,
        page=int(page) if page is not None else None,
        section=meta.get("section"),
        score=score,
        similarity=score,
    )


def fuse(
    result_lists: Iterable[list[Passage]], k: int, weights: Sequence[float] | None = None
) -> list[Passage]:
    """Reciprocal rank fusion: list i adds weights[i]/(60 + rank) to a chunk's score.

    The fused hit keeps each list's own score (vector similarity, lexical bm25).
    """
    scores: dict[str, float] = {}
    merged: dict[str, Passage] = {}
    for i, hits in enumerate(result_lists):
        weight = 1.0 if weights is None else weights[i]
        for rank, hit in enumerate(hits, start=1):
            scores[hit.id] = scores.get(hit.id, 0.0) + weight / (RRF_K + rank)
            known = merged.get(hit.id)
            merged[hit.id] = (
                hit
                if known is None
                else known.model_copy(
                    update={
                        "similarity": hit.similarity
                        if known.similarity is None
                        else known.similarity,
                        "lexical": hit.lexical if known.lexical is None else known.lexical,
                    }
                )
            )
    best = sorted(scores, key=lambda chunk_id: scores[chunk_id], reverse=True)[:k]
    return [merged[chunk_id].model_copy(update={"score": scores[chunk_id]}) for chunk_id in best]
