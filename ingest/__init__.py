"""Ingestion and search as a plain library: parse, chunk, embed, index, lexical, search, guard,
pipeline. No FastAPI, no Celery, no SQL, no environment: the pipeline writes document state
through `ingest.store.DocumentStore`, and `ingest.passage.Passage` is the one passage record."""
