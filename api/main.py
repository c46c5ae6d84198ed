"""The FastAPI application: `create_app(settings)` builds everything once in its lifespan."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from api.errors import install_error_handlers
from api.intake import Intake
from api.llm import LLM, Gate, load_llm
from api.rag import Answerer
from api.routes import (
    admin,
    chat,
    collections,
    documents,
    feedback,
    health,
    openai,
    search,
    slack,
)
from api.sweeper import Sweeper
from core.accounts import bootstrap_admin
from core.offline import go_offline, quiet_libraries
from core.services import Services, build_services
from core.settings import Settings

WEB = Path(__file__).resolve().parent.parent / "frontend" / "web"
Builder = Callable[[Settings], Services]
ModelLoader = Callable[[Settings], LLM]


def create_app(
    settings: Settings | None = None, build: Builder | None = None, model: ModelLoader | None = None
) -> FastAPI:
    """The API; `build` and `model` let tests supply fakes (a hash embedder, a scripted LLM)."""
    settings = settings or Settings()
    builder = build or api_services
    load_model = model or load_llm
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        go_offline()
        quiet_libraries()
        from worker.celery_app import make_celery

        services = builder(settings)
        await run_in_threadpool(announce_admin, services, settings.admin_token)
        intake = Intake(services, make_celery(settings))
        app.state.services = services
        app.state.intake = intake
        llm = await run_in_threadpool(load_model, settings)
        app.state.answerer = answerer = make_answerer(settings, services, llm)
        app.state.ping_redis = lambda: ping_redis(settings.redis_url)
        jobs: list[Callable[[], int | None]] = [intake.sweep]
        app.state.slack = None
        if settings.slack_bot_token and settings.slack_signing_secret:
            from api.slack import SlackBot

            app.state.slack = SlackBot(settings, answerer, intake)
            jobs.append(app.state.slack.notify)
        sweeper = Sweeper(settings.sweep_interval, *jobs)
        sweeper.start()
        try:
            yield
        finally:
            sweeper.stop()

    app = FastAPI(
        title="gptu",
        version="0.1.0",
        description="Answers from your organisation's documents, on your own machines.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    for module in (health, admin, collections, documents, search, chat, openai, feedback, slack):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=WEB), name="static")

    @app.get("/", include_in_schema=False)
    async def home() -> FileResponse:
        return FileResponse(WEB / "index.html")

    @app.get("/upload", include_in_schema=False)
    async def upload_page() -> FileResponse:
        return FileResponse(WEB / "upload.html")

    return app


def make_answerer(settings: Settings, services: Services, llm: LLM) -> Answerer:
    """Retrieval, prompt and model with the configured limits."""
    return Answerer(
        services.search(),
        llm,
        Gate(),
        k=settings.chat_k,
        max_tokens=settings.max_answer_tokens,
        min_similarity=settings.min_similarity,
        queue_timeout=settings.queue_timeout,
    )


def api_services(settings: Settings) -> Services:
    """The API's services: one embedder thread is plenty for questions, and leaves room."""
    return build_services(settings, threads=1)


def announce_admin(services: Services, token: str) -> None:
    """Create the admin on first start; print a generated key once (only its hash is kept)."""
    with services.db.session() as session:
        key = bootstrap_admin(session, token)
    if key is not None:
        line = "=" * 72
        print(
            f"{line}\ngptu: created the admin user 'admin'. Its API key, shown only now:\n\n"
            f"    {key}\n\nSign in to the web chat with it; `gptu users key admin` makes a new "
            f"one.\n{line}",
            file=sys.stderr,
            flush=True,
        )


def ping_redis(url: str) -> None:
    """Raise if Redis does not answer."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()
