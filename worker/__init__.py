"""Celery worker: thin tasks over ingest.pipeline."""
