"""Celery worker: thin tasks over ingest.pipeline, its services built by app.services.

A document's path: worker.tasks.ingest_document → ingest.pipeline.Pipeline → app.store."""
