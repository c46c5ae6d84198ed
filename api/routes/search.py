"""Hybrid search over collections."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from api.deps import ServicesDep, SessionDep
from api.routes.collections import find_collection
from api.schemas import SearchIn, SearchOut, SearchResult
from core.db import Collection
from core.errors import EmbedderMismatch

router = APIRouter(prefix="/v1", tags=["search"])


@router.post("/search")
async def search(body: SearchIn, session: SessionDep, services: ServicesDep) -> SearchOut:
    """Vector and lexical search fused by reciprocal rank, filtered by collection in the query."""
    if body.collections is None:
        collections = list(session.scalars(select(Collection)).all())
    else:
        collections = [find_collection(session, name) for name in dict.fromkeys(body.collections)]
    for collection in collections:
        if collection.embedder != services.embedder.id:
            raise EmbedderMismatch(
                f"collection {collection.name!r} was built with {collection.embedder}; "
                f"this server runs {services.embedder.id}. Re-ingest it into a new collection."
            )
    names = [c.name for c in collections]
    k = body.k or services.settings.search_k
    hits = await run_in_threadpool(services.search().search, body.query, names, k)
    return SearchOut(results=[SearchResult.model_validate(h, from_attributes=True) for h in hits])
