"""Hybrid search over collections."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from api.auth import CurrentUser
from api.deps import ServicesDep, SessionDep
from api.schemas import SearchIn, SearchOut
from core.access import readable_collections
from core.db import Collection
from core.errors import EmbedderMismatch

router = APIRouter(prefix="/v1", tags=["search"])


@router.post("/search")
def search(
    body: SearchIn, caller: CurrentUser, session: SessionDep, services: ServicesDep
) -> SearchOut:
    """Vector and lexical search fused by reciprocal rank, over the collections you may read."""
    names = readable_collections(session, caller, body.collections)
    collections = session.scalars(select(Collection).where(Collection.name.in_(names))).all()
    for collection in collections:
        if collection.embedder not in services.embedders:
            raise EmbedderMismatch(
                f"collection {collection.name!r} was built with {collection.embedder}, which "
                f"this server cannot run; `gptu reindex {collection.name}` re-embeds it."
            )
    k = body.k or services.settings.search_k
    session.commit()  # the connection goes back to the pool before the search runs
    hits = services.search().search(body.query, names, k)
    return SearchOut(results=hits)
