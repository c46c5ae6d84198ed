"""Hybrid search: vector and lexical candidates fused by reciprocal rank."""

from __future__ import annotations

from ingest.embed import Embedder
from ingest.index import Index, fuse
from ingest.passage import Passage


class HybridSearch:
    """Asks every index for a pool of candidates within the allowed collections, then fuses."""

    def __init__(self, embedder: Embedder, vector: Index, lexical: Index, pool: int = 50) -> None:
        self.embedder = embedder
        self.vector = vector
        self.lexical = lexical
        self.pool = pool

    def search(
        self,
        query: str,
        collections: list[str],
        k: int,
        weights: tuple[float, float] | None = None,
    ) -> list[Passage]:
        """The k best chunks for query among collections; weights: (vector, lexical) in RRF."""
        if not collections:
            return []
        pool = max(self.pool, k)
        vec = self.embedder.embed([query])[0]
        vector_hits = self.vector.search(query, vec, collections, pool)
        lexical_hits = self.lexical.search(query, vec, collections, pool)
        return fuse([vector_hits, lexical_hits], k, weights)
