"""The composition root: builds Services (database, embedder, indexes, pipeline, answerer) from
Settings, and implements what the library rooms only declare (the SQL document store)."""
