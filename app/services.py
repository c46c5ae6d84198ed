"""Builds the long-lived parts (database, embedders, indexes, pipeline) from settings, once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy import select

from app.files import FileStore, LocalFiles
from app.lexical import PostgresLexicalIndex
from app.scratch import own_folder
from app.store import SqlDocumentStore
from core.db import Collection, Database, Pool
from core.priority import ChatYield
from core.settings import Settings
from core.waiting import database_name, wait_for
from ingest.embed import Embedder, Embedders
from ingest.index import ChromaIndex
from ingest.lexical import LexicalIndex
from ingest.ocr import Ocr, Tesseract
from ingest.parse import parse_file
from ingest.pipeline import Pipeline
from ingest.search import Diversity, HybridSearch

# Measured by bench/retrieval.py on the company set: see README "Choosing the embedder".
DIVERSITY = Diversity(per_document=1, close=0.97)


def no_pause() -> None:
    """Go on at once."""


@dataclass
class Services:
    """The parts a process works with; built by `build_services`, or by a test with fakes.

    `embedders` loads each embedder on first use: every collection is ingested and searched
    with the one it records; `embedder` is the default one, which new collections get.
    """

    settings: Settings
    db: Database
    embedders: Embedders
    vectors: ChromaIndex
    lexical: LexicalIndex | PostgresLexicalIndex
    files: FileStore
    ocr: Ocr | None = None
    # a worker's pause between batches while the chat model generates
    chat_yield: Callable[[], None] = field(default_factory=lambda: no_pause)

    @property
    def embedder(self) -> Embedder:
        """The embedder new collections get (GPTU_EMBEDDER), loaded on first use."""
        return self.embedders.default

    def pipeline(
        self, interrupts: tuple[type[BaseException], ...] = (), holder: str = ""
    ) -> Pipeline:
        """The ingestion pipeline over these parts; `interrupts` stop it rather than fail a
        document (the worker's soft time limit); `holder` is the claiming task's id."""
        return Pipeline(
            store=SqlDocumentStore(self.db, self.files),
            embedders=self.embedders.get,
            vectors=self.vectors,
            lexical=self.lexical,
            chunk_chars=self.settings.chunk_chars,
            max_unpacked_bytes=self.settings.max_unpacked_bytes,
            redact=self.settings.redact_pii,
            ocr=self.ocr,
            parse=partial(parse_file, scratch=own_folder(self.settings.scratch_dir)),
            interrupts=interrupts,
            holder=holder,
            pause=self.chat_yield,
        )

    def search(self) -> HybridSearch:
        """Hybrid search over these parts, each collection with its own embedder."""
        return HybridSearch(
            self.embedder,
            self.vectors,
            self.lexical,
            self.settings.search_pool,
            recorded=self.recorded_embedders,
            embedders=self.embedders.get,
            diversity=DIVERSITY,
            margin=self.settings.collection_margin,
        )

    def recorded_embedders(self, collections: list[str]) -> dict[str, str]:
        """The embedder id each of these collections records."""
        with self.db.session() as session:
            rows = session.execute(
                select(Collection.name, Collection.embedder).where(Collection.name.in_(collections))
            ).all()
        return {name: embedder for name, embedder in rows}


def db_pool(settings: Settings) -> Pool:
    """The database pool the settings ask for."""
    return Pool(settings.db_pool_size, settings.db_max_overflow, settings.db_pool_timeout)


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
    settings: Settings,
    embedder: Embedder | None = None,
    threads: int | None = None,
    wait: float = 0,
) -> Services:
    """Connect to the database and Chroma; embedders load on first use.

    embedder: one given embedder (a test's fake) that becomes the default.
    threads: onnxruntime threads of each embedder; default, the worker's share of the cores.
    wait: seconds to wait for the database and Chroma to answer (the API's and a worker's
    start; 0 for a command, which says at once that a server is down).
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    embedders = Embedders(
        embedder.id if embedder else settings.embedder,
        threads=threads or settings.threads_per_task(),
        batch_size=settings.embed_batch,
        given=[embedder] if embedder else [],
    )
    url = settings.sqlalchemy_url
    db = wait_for(database_name(url), lambda: Database(url, db_pool(settings)), wait)
    where = f"Chroma at {settings.chroma_host}:{settings.chroma_port}"
    chroma = wait_for(where, lambda: chroma_client(settings), wait)
    return Services(
        settings=settings,
        db=db,
        embedders=embedders,
        vectors=ChromaIndex(chroma, embedders.default_id),
        lexical=lexical_index(settings, db),
        files=LocalFiles(settings.files_dir),
        ocr=ocr_of(settings, threads or settings.threads_per_task()),
        chat_yield=ChatYield(settings.redis_url, settings.chat_priority_wait),
    )


def ocr_of(settings: Settings, threads: int) -> Ocr | None:
    """How this process reads scans (Tesseract loads on first use), `threads` pages at once;
    None when OCR is off. OCR leaves a minute of the task's time limit for the rest."""
    if not settings.ocr:
        return None
    return Ocr(
        Tesseract(),
        dpi=settings.ocr_dpi,
        max_pages=settings.ocr_max_pages,
        time_limit=min(settings.ocr_time_limit, max(10, settings.task_time_limit - 60)),
        threads=threads,
    )


def lexical_index(settings: Settings, db: Database) -> LexicalIndex | PostgresLexicalIndex:
    """Postgres full-text search beside the SQL tables, or SQLite FTS5 in GPTU_DATA_DIR."""
    if settings.postgres:
        return PostgresLexicalIndex(db.engine)
    return LexicalIndex(settings.lexical_path)
