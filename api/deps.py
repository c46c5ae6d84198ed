"""Typed dependencies that routes declare: the services built once in the app's lifespan."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from answer.rag import Answerer
from answer.tracing import Tracer
from app.intake import Intake
from app.services import Services


def get_services(request: Request) -> Services:
    """The app's services."""
    services: Services = request.app.state.services
    return services


def get_session(request: Request) -> Iterator[Session]:
    """A database session per request, committed when the route returns."""
    with get_services(request).db.session() as session:
        yield session


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
SessionDep = Annotated[Session, Depends(get_session)]
IntakeDep = Annotated[Intake, Depends(get_intake)]
AnswererDep = Annotated[Answerer, Depends(get_answerer)]
TracerDep = Annotated[Tracer, Depends(get_tracer)]
