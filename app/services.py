"""Builds the long-lived parts (database, embedder, indexes, pipeline) from settings, once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.store import SqlDocumentStore
from core.db import Database
from core.settings import Settings
from ingest.embed import Embedder, MiniLMEmbedder
from ingest.index import ChromaIndex
from ingest.lexical import LexicalIndex
from ingest.pipeline import Pipeline
from ingest.search import HybridSearch


@dataclass
class Services:
    """The parts a process works with; built by `build_services`, or by a test with fakes."""

    settings: Settings
    db: Database
    embedder: Embedder
    vectors: ChromaIndex
    lexical: LexicalIndex

    def pipeline(self) -> Pipeline:
        """The ingestion pipeline over these parts."""
        return Pipeline(
            store=SqlDocumentStore(self.db, self.settings.files_dir),
            embedder=self.embedder,
            indexes=[self.vectors, self.lexical],
            chunk_chars=self.settings.chunk_chars,
            max_unpacked_bytes=self.settings.max_unpacked_bytes,
            redact=self.settings.redact_pii,
        )

    def search(self) -> HybridSearch:
        """Hybrid search over these parts."""
        return HybridSearch(self.embedder, self.vectors, self.lexical, self.settings.search_pool)


def chroma_client(settings: Settings) -> Any:
    """An HTTP client for the Chroma server, telemetry off."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    return chromadb.HttpClient(
        host=settings.chroma_host,
        port=settings.chroma_port,
        settings=ChromaSettings(anonymized_telemetry=False),
    )


def build_services(
    settings: Settings, embedder: Embedder | None = None, threads: int | None = None
) -> Services:
    """Connect to the database and Chroma and load the embedder (unless one is given).

    threads: onnxruntime threads of the embedder; default, the worker's share of the cores.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.files_dir.mkdir(parents=True, exist_ok=True)
    if embedder is None:
        embedder = MiniLMEmbedder(
            threads=threads or settings.threads_per_task(), batch_size=settings.embed_batch
        )
    return Services(
        settings=settings,
        db=Database(settings.sqlalchemy_url),
        embedder=embedder,
        vectors=ChromaIndex(chroma_client(settings), embedder.id),
        lexical=LexicalIndex(settings.lexical_path),
    )
