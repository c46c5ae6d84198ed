"""The packaged MiniLM embedder: offline, normalised, meaningful, batch-independent."""

from __future__ import annotations

import numpy as np

from ingest.embed import MiniLMEmbedder


def test_minilm_vectors_are_normalised_and_semantic() -> None:
    embedder = MiniLMEmbedder(threads=1, batch_size=2)
    texts = [
        "How many days of annual leave do employees get?",
        "Staff are entitled to 25 days of paid holiday per year.",
        "The quarterly revenue of the gaming segment grew by 12 percent.",
    ]
    vectors = np.array(embedder.embed(texts))
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    alone = np.array(embedder.embed([texts[2]]))[0]
    assert np.allclose(alone, vectors[2], atol=1e-3)
