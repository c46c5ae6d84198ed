"""The HTTP layer, and only that: FastAPI app (main.py), routes/, schemas, auth, errors.

A question's path: routes/chat.py → answer.rag (plan → generate) → ingest.search → the indexes.
A document's path: routes/documents.py → app.intake (store, queue) → worker.tasks.
"""
