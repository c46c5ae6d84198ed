"""The lexical index (real SQLite FTS5), reciprocal rank fusion and hybrid search."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from ingest.index import fuse
from ingest.lexical import LexicalIndex, fts_query, searchable_name
from ingest.passage import Passage
from ingest.search import Diversity, HybridSearch, diversify, focus
from tests.fakes import HashEmbedder


def records(doc: str, collection: str, texts: list[str]) -> list[Passage]:
    """Passages of a document, as the pipeline stores them."""
    return [
        Passage(
            document_id=doc,
            chunk=i,
            collection=collection,
            filename=f"{doc}.txt",
            text=t,
            page=i + 1,
        )
        for i, t in enumerate(texts)
    ]


def test_lexical_replace_search_filter_and_delete(tmp_path: Path) -> None:
    index = LexicalIndex(tmp_path / "lex.db")
    index.replace_document(
        "d1", records("d1", "hr", ["holiday allowance is 25 days", "pension plan"])
    )
    index.replace_document("d2", records("d2", "legal", ["holiday contract clause"]))
    hits = index.search("holiday", [], ["hr"], 10)
    assert [h.id for h in hits] == ["d1:0"] and hits[0].page == 1
    assert {h.collection for h in index.search("holiday", [], ["hr", "legal"], 10)} == {
        "hr",
        "legal",
    }
    index.replace_document("d1", records("d1", "hr", ["only one chunk now"]))
    assert index.count("d1") == 1
    index.delete_document("d1")
    assert index.count("d1") == 0 and index.search("chunk", [], ["hr"], 10) == []


def test_user_text_is_never_fts_syntax(tmp_path: Path) -> None:
    index = LexicalIndex(tmp_path / "lex.db")
    index.replace_document("d", records("d", "c", ['the "NEAR" AND OR NOT * ( ) column:x']))
    for query in ['"unbalanced', "AND OR NOT", "col:umn*", "(", "NEAR(a b)", "-", "   "]:
        index.search(query, [], ["c"], 5)  # must not raise
    assert fts_query('a "b" c:d') == '"a" OR "b" OR "c" OR "d"'
    assert fts_query("?!") == ""


def test_reciprocal_rank_fusion_rewards_agreement() -> None:
    def hit(doc: str) -> Passage:
        return Passage(document_id=doc, chunk=0, collection="c", filename="f", text="t")

    vector = [hit("a"), hit("b"), hit("c")]
    lexical = [hit("b"), hit("d")]
    fused = fuse([vector, lexical], k=3)
    assert [h.document_id for h in fused] == ["b", "a", "d"]
    assert abs(fused[0].score - (1 / 62 + 1 / 61)) < 1e-12


def test_hash_embedder_is_deterministic_and_normalised() -> None:
    embedder = HashEmbedder()
    a, b, c = embedder.embed(["holiday policy", "holiday policy", "pension"])
    assert a == b and abs(sum(x * x for x in a) - 1) < 1e-6
    assert sum(x * y for x, y in zip(a, c, strict=True)) < 0.99


def test_file_names_and_section_titles_are_searchable(tmp_path: Path) -> None:
    index = LexicalIndex(tmp_path / "lex.db")
    for year, rate in (("2022", "0.36"), ("2023", "0.39")):
        doc = f"travel-policy_{year}"
        index.replace_document(doc, [
            Passage(document_id=doc, chunk=0, collection="c", filename=f"{doc}.md",
                    text=f"Mileage is refunded at {rate} EUR per kilometre.", section="Cars"),
        ])  # fmt: skip
    hits = index.search("what does travel-policy-2023 say about mileage", [], ["c"], 5)
    assert [h.filename for h in hits] == ["travel-policy_2023.md", "travel-policy_2022.md"]
    assert index.search("cars", [], ["c"], 5)[0].section == "Cars"
    assert searchable_name("Q3 report.final_v2.PDF") == "Q3 report final v2"
    body_only = LexicalIndex(tmp_path / "lex.db", weights=(1.0, 0.0, 0.0))
    assert body_only.search("cars 2023", [], ["c"], 5) == []
    assert [p.text[:7] for p in index.passages("travel-policy_2023")] == ["Mileage"]


def test_an_index_made_before_names_were_searchable_is_moved_over(tmp_path: Path) -> None:
    path = tmp_path / "lex.db"
    with sqlite3.connect(path) as conn:  # the table as earlier versions created it
        conn.execute(
            "CREATE VIRTUAL TABLE chunks USING fts5(text, id UNINDEXED, document_id UNINDEXED,"
            " n UNINDEXED, collection UNINDEXED, filename UNINDEXED, page UNINDEXED,"
            " section UNINDEXED, tokenize='unicode61 remove_diacritics 2')"
        )
        conn.execute(
            "INSERT INTO chunks VALUES ('pension plan', 'd:0', 'd', 0, 'c', 'hr-guide.docx', 3,"
            " 'Benefits')"
        )
    index = LexicalIndex(path)
    [hit] = index.search("hr guide", [], ["c"], 5)
    assert (hit.id, hit.page, hit.section, hit.text) == ("d:0", 3, "Benefits", "pension plan")
    assert index.count("d") == 1


def test_diversity_keeps_documents_apart_unless_a_chunk_is_close() -> None:
    def hit(doc: str, n: int, score: float) -> Passage:
        return Passage(document_id=doc, chunk=n, collection="c", filename=doc, text="t",
                       score=score)  # fmt: skip

    ranked = [hit("a", 0, 1.0), hit("a", 1, 0.99), hit("a", 5, 0.5), hit("b", 0, 0.8),
              hit("c", 0, 0.7)]  # fmt: skip
    kept = diversify(ranked, 4, Diversity(per_document=1, close=0.97))
    assert [h.id for h in kept] == ["a:0", "a:1", "b:0", "c:0"]
    assert [h.id for h in diversify(ranked, 5, Diversity(1, 0.97))][-1] == "a:5"
    assert diversify(ranked, 2, None) == ranked[:2]


def test_hybrid_search_queries_each_embedders_collections_with_its_own_vector(
    tmp_path: Path,
) -> None:
    lexical = LexicalIndex(tmp_path / "lex.db")
    spaces = Spaces()
    one, other = HashEmbedder(), Shifted()
    recorded = {"old": one.id, "new": other.id}
    embedders = {one.id: one, other.id: other}
    search = HybridSearch(
        one, spaces, lexical, 10, recorded=lambda _: recorded, embedders=embedders.__getitem__
    )
    search.search("holiday", ["old", "new"], 5)
    assert spaces.asked == {(one.id, ("old",), "hash"), (other.id, ("new",), "shifted")}


class Shifted(HashEmbedder):
    """Another vector space: queries are marked so the test can tell them apart."""

    id = "shifted-64"

    def embed_query(self, texts: list[str]) -> list[list[float]]:
        """A recognisable query vector."""
        return [[-1.0] * self.dim for _ in texts]


class Spaces:
    """A vector index that records which space was asked, with what kind of query vector."""

    def __init__(
        self, embedder_id: str = "", asked: set[tuple[str, tuple[str, ...], str]] | None = None
    ) -> None:
        self.embedder_id = embedder_id
        self.asked = asked if asked is not None else set()

    def space(self, embedder_id: str) -> Spaces:
        """The index of one embedder's vectors."""
        return Spaces(embedder_id, self.asked)

    def search(
        self, text: str, vector: Sequence[float], collections: list[str], k: int
    ) -> list[Passage]:
        """Nothing found; the question is recorded."""
        kind = "shifted" if vector[0] == -1.0 else "hash"
        self.asked.add((self.embedder_id, tuple(collections), kind))
        return []

    def replace_document(self, document_id: str, records: list[Passage]) -> None:
        """Unused."""

    def delete_document(self, document_id: str) -> None:
        """Unused."""

    def count(self, document_id: str) -> int:
        """Unused."""
        return 0


def test_focus_keeps_the_collections_close_to_the_best_one() -> None:
    def hit(collection: str, similarity: float | None) -> Passage:
        return Passage(document_id=f"{collection}-{similarity}", chunk=0, collection=collection,
                       filename="f.md", text="t", similarity=similarity)  # fmt: skip

    vector = [hit("permits", 0.71), hit("us-houses", 0.52), hit("hr", 0.66)]
    lexical = [hit("us-houses", None), hit("permits", None)]
    kept = focus([vector, lexical], 0.08)
    assert [h.collection for h in kept[0]] == ["permits", "hr"]
    assert [h.collection for h in kept[1]] == ["permits"]
    assert focus([vector, lexical], 0.0) == [vector, lexical]  # off
    one = [[hit("permits", 0.7)], [hit("permits", None)]]
    assert focus(one, 0.08) == one
