"""Hybrid search: vector and lexical candidates fused by reciprocal rank, documents kept apart."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ingest.embed import Embedder
from ingest.index import Index, VectorIndex, fuse
from ingest.passage import Passage

# Which embedder each collection records (collection name → embedder id).
Recorded = Callable[[list[str]], dict[str, str]]


@dataclass(frozen=True)
class Diversity:
    """How many chunks of one document the top k may hold.

    A document's chunks after its first `per_document` wait behind every other document's
    chunks, unless their fused score is within `close` of that document's best: a document
    whose two neighbouring chunks both match strongly still gives both (the answerer merges
    neighbours), while look-alike chunks of one file no longer crowd out the other files.
    """

    per_document: int = 1
    close: float = 0.97


def diversify(ranked: list[Passage], k: int, diversity: Diversity | None) -> list[Passage]:
    """The k best of ranked (best first), at most `per_document` per document unless close."""
    if diversity is None:
        return ranked[:k]
    kept: list[Passage] = []
    waiting: list[Passage] = []
    best: dict[str, float] = {}
    taken: dict[str, int] = {}
    for hit in ranked:
        doc = hit.document_id
        if doc not in best:
            best[doc] = hit.score
        if taken.get(doc, 0) < diversity.per_document or hit.score >= diversity.close * best[doc]:
            kept.append(hit)
            taken[doc] = taken.get(doc, 0) + 1
        else:
            waiting.append(hit)
        if len(kept) == k:
            return kept
    return kept + waiting[: k - len(kept)]


def focus(lists: list[list[Passage]], margin: float) -> list[list[Passage]]:
    """The candidates of the collections whose best cosine to the question is within margin
    of the best collection's (0: all): a question about building permits is answered from the
    collection that is about them, not from another's look-alike numbers."""
    best: dict[str, float] = {}
    for hit in (h for hits in lists for h in hits if h.similarity is not None):
        best[hit.collection] = max(best.get(hit.collection, -1.0), hit.similarity or 0.0)
    if margin <= 0 or len(best) < 2:
        return lists
    top = max(best.values())
    kept = {name for name, cosine in best.items() if cosine >= top - margin}
    return [[h for h in hits if h.collection in kept] for hits in lists]


class HybridSearch:
    """Asks every index for a pool of candidates within the allowed collections, then fuses.

    Collections may record different embedders: each group of collections is searched with
    its own embedder's query vector in its own vector space, and all lists are fused.
    `embedder` is the default one (new collections'), also used by callers that embed text.
    """

    def __init__(
        self,
        embedder: Embedder,
        vector: VectorIndex,
        lexical: Index,
        pool: int = 50,
        recorded: Recorded | None = None,
        embedders: Callable[[str], Embedder] | None = None,
        diversity: Diversity | None = None,
        margin: float = 0.0,
    ) -> None:
        self.embedder = embedder
        self.vector = vector
        self.lexical = lexical
        self.pool = pool
        self.recorded = recorded
        self.embedders = embedders
        self.diversity = diversity
        self.margin = margin  # see focus()

    def groups(self, collections: list[str]) -> list[tuple[Embedder, Index, list[str]]]:
        """The collections grouped by the embedder they record, with its embedder and space."""
        if self.recorded is None or self.embedders is None:
            return [(self.embedder, self.vector, collections)]
        recorded = self.recorded(collections)
        by_embedder: dict[str, list[str]] = {}
        for name in collections:
            by_embedder.setdefault(recorded.get(name, self.embedder.id), []).append(name)
        return [
            (self.embedders(embedder_id), self.vector.space(embedder_id), names)
            for embedder_id, names in by_embedder.items()
        ]

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
        lists: list[list[Passage]] = []
        groups = self.groups(collections)
        for embedder, space, names in groups:
            vec = embedder.embed_query([query])[0]
            lists.append(space.search(query, vec, names, pool))
        lists.append(self.lexical.search(query, [], collections, pool))
        if len(groups) == 1 and len(collections) > 1:  # cosines compare within one space only
            lists = focus(lists, self.margin)
        list_weights = None if weights is None else [weights[0]] * (len(lists) - 1) + [weights[1]]
        ranked = fuse(lists, pool, list_weights)
        return diversify(ranked, k, self.diversity)
