"""The packaged embedders: offline, pinned, normalised, meaningful, batch-independent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ingest.embed import (
    BgeSmallEmbedder,
    Embedders,
    EmbedderUnavailable,
    MiniLMEmbedder,
    PackagedFile,
    PotionEmbedder,
    embedder_id,
)
from tests.fakes import HashEmbedder

TEXTS = [
    "How many days of annual leave do employees get?",
    "Staff are entitled to 25 days of paid holiday per year.",
    "The quarterly revenue of the gaming segment grew by 12 percent.",
]


def test_minilm_vectors_are_normalised_and_semantic() -> None:
    embedder = MiniLMEmbedder(threads=1, batch_size=2)
    vectors = np.array(embedder.embed(TEXTS))
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    alone = np.array(embedder.embed([TEXTS[2]]))[0]
    assert np.allclose(alone, vectors[2], atol=1e-3)
    assert embedder.embed_query([TEXTS[0]]) == embedder.embed([TEXTS[0]])


def test_bge_small_queries_find_passages_and_long_texts_are_cut() -> None:
    embedder = BgeSmallEmbedder(threads=1, batch_size=2)
    passages = np.array(embedder.embed(TEXTS[1:]))
    query = np.array(embedder.embed_query([TEXTS[0]]))[0]
    assert passages.shape == (2, 384)
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-4)
    assert query @ passages[0] > query @ passages[1] + 0.2
    assert not np.allclose(query, np.array(embedder.embed([TEXTS[0]]))[0], atol=1e-3)
    long = np.array(embedder.embed(["word " * 2000, TEXTS[1]]))  # over 512 tokens: truncated
    assert long[1] @ passages[0] > 0.99  # int8 activations scale with the padded batch


def test_potion_is_a_normalised_mean_of_token_vectors_and_meaningful() -> None:
    embedder = PotionEmbedder()
    vectors = np.array(embedder.embed([*TEXTS, ""]))
    assert vectors.shape == (4, 256)
    assert np.allclose(np.linalg.norm(vectors[:3], axis=1), 1.0, atol=1e-5)
    assert not vectors[3].any()  # no tokens, no direction
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert np.allclose(np.array(embedder.embed([TEXTS[2]]))[0], vectors[2], atol=1e-6)
    ids = embedder.tokenizer.encode(TEXTS[1], add_special_tokens=False).ids
    mean = embedder.table[ids].mean(axis=0)
    assert np.allclose(vectors[1], mean / np.linalg.norm(mean), atol=1e-6)
    long = np.array(embedder.embed([TEXTS[1] + " word" * 2000]))[0]  # cut at 512 tokens
    assert long @ vectors[1] < 0.99 and long @ np.array(embedder.embed(["word"]))[0] > 0.9
    assert embedder.embed_query([TEXTS[0]]) == embedder.embed([TEXTS[0]])


def test_a_vendored_file_that_is_not_the_pinned_one_is_refused(tmp_path: Path) -> None:
    good = PotionEmbedder.checked("tokenizer.json")
    (tmp_path / "tokenizer.json").write_bytes(good.read_bytes()[:-1])
    with pytest.raises(EmbedderUnavailable, match=r"expected e67e.*vendor_potion"):
        PotionEmbedder.checked("tokenizer.json", tmp_path)
    with pytest.raises(EmbedderUnavailable, match=r"missing.*make install"):
        PotionEmbedder.checked("model.safetensors", tmp_path)


def test_a_file_that_is_not_the_pinned_one_is_refused_with_a_reason() -> None:
    good = BgeSmallEmbedder.tokenizer_file
    assert good.checked().name == "tokenizer.json"
    with pytest.raises(EmbedderUnavailable, match="expected 0000"):
        PackagedFile(good.package, good.path, "0" * 64).checked()
    with pytest.raises(EmbedderUnavailable, match="not installed"):
        PackagedFile("no_such_package_gptu", "x", "0" * 64).checked()


def test_embedders_load_on_first_use_and_keep_each_one() -> None:
    fake = HashEmbedder()
    embedders = Embedders(fake.id, given=[fake])
    assert embedders.default is fake and "hash-64" in embedders
    assert embedder_id("bge-small") in embedders and "nope" not in embedders
    assert embedders.loaded.keys() == {"hash-64"}  # nothing loaded yet
    minilm = embedders.get(embedder_id("minilm"))
    assert embedders.get("all-MiniLM-L6-v2-int8") is minilm
    with pytest.raises(EmbedderUnavailable):
        embedders.get("nope")
    with pytest.raises(EmbedderUnavailable, match="minilm, bge-small"):
        Embedders("nope")
