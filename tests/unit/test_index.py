"""The lexical index (real SQLite FTS5), reciprocal rank fusion and hybrid search."""

from __future__ import annotations

from pathlib import Path

from ingest.index import fuse
from ingest.lexical import LexicalIndex, fts_query
from ingest.passage import Passage
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
