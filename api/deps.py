"""Typed dependencies that routes declare: the services built once in the app's lifespan."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from answer.rag import Answerer
from answer.tracing import Tracer
from app.intake import Intake
from app.services import Services

T = TypeVar("T")


def get_services(request: Request) -> Services:
    """The app's services."""
    services: Services = request.app.state.services
    return services


def get_session(request: Request) -> Iterator[Session]:
    """A database session for a sync route, committed as the route returns (before the
    response is sent, so the connection goes back to the pool at once)."""
    with get_services(request).db.session() as session:
        yield session


async def in_session(services: Services, work: Callable[[Session], T]) -> T:
    """work(session) in a short session on a pool thread: what async routes use for SQL, so the
    event loop never waits on the database and no connection is held across the model."""

    def run() -> T:
        with services.db.session() as session:
            return work(session)

    return await run_in_threadpool(run)


def get_intake(request: Request) -> Intake:
    """Stores uploads and hands them to the workers."""
    intake: Intake = request.app.state.intake
    return intake


def get_answerer(request: Request) -> Answerer:
    """Retrieval, prompt and the model."""
    answerer: Answerer = request.app.state.answerer
    return answerer


def get_tracer(request: Request) -> Tracer:
    """Stores answers as traces."""
    tracer: Tracer = request.app.state.tracer
    return tracer


ServicesDep = Annotated[Services, Depends(get_services)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
IntakeDep = Annotated[Intake, Depends(get_intake)]
AnswererDep = Annotated[Answerer, Depends(get_answerer)]
TracerDep = Annotated[Tracer, Depends(get_tracer)]
