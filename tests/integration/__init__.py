"""Integration tests against real Redis, Chroma, worker, API and model."""
