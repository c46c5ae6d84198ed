"""The HTTP API: FastAPI app, routes, retrieval-augmented answers."""
