"""The FastAPI application: `create_app(settings)` builds everything once in its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from answer.llm import load_llm
from answer.tracing import Tracer
from api.auth import SharedThrottle
from api.errors import ERROR_RESPONSES, install_error_handlers
from api.headers import install_security_headers
from api.limits import BodyLimit
from api.metrics import Metrics
from api.observe import install_request_ids
from api.routes import (
    account,
    admin,
    chat,
    collections,
    conversations,
    documents,
    evals,
    feedback,
    health,
    mcp_http,
    openai,
    search,
    signin,
    slack,
    sources,
    sso,
    traces,
)
from api.streaming import reserve_waiting_threads
from app.answering import ModelLoader, announce_admin, api_services, make_answerer
from app.doctor import Doctor
from app.intake import INGEST_QUEUE, Intake, queue_depth
from app.services import Services
from app.sweeper import Sweeper
from core.logs import setup_logging
from core.offline import go_offline, quiet_libraries
from core.settings import Settings

WEB = Path(__file__).resolve().parent.parent / "frontend" / "web"
Builder = Callable[[Settings], Services]


def create_app(
    settings: Settings | None = None, build: Builder | None = None, model: ModelLoader | None = None
) -> FastAPI:
    """The API; `build` and `model` let tests supply fakes (a hash embedder, a scripted LLM)."""
    settings = settings or Settings()
    builder = build or api_services
    load_model = model or load_llm
    setup_logging(settings.log_level, settings.log_format)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        go_offline()
        quiet_libraries()
        reserve_waiting_threads(settings.max_waiting)
        from worker.celery_app import make_celery

        services = builder(settings)
        await run_in_threadpool(announce_admin, services, settings.admin_token)
        intake = Intake(services, make_celery(settings))
        app.state.services = services
        app.state.intake = intake
        llm = await run_in_threadpool(load_model, settings)
        app.state.answerer = answerer = await run_in_threadpool(
            make_answerer, settings, services, llm, load_model
        )
        app.state.ping_redis = lambda: ping_redis(settings.redis_url)
        app.state.tracer = Tracer(services.db, metrics)
        app.state.mcp = mcp_http.tool_server(app)  # its tools call this app in process
        metrics.watch(
            services.db,
            lambda: answerer.gate.waiting,
            lambda: queue_depth(settings.redis_url, INGEST_QUEUE),
            lambda: workers_alive(intake.celery),
        )
        jobs: list[Callable[[], int | None]] = [intake.sweep]
        app.state.slack = None
        if settings.slack_bot_token and settings.slack_signing_secret:
            from slackbot.bot import SlackBot

            app.state.slack = SlackBot(settings, answerer, intake, app.state.tracer)
            jobs.append(app.state.slack.notify)
        sweepers = [Sweeper(settings.sweep_interval, *jobs)]
        if settings.doctor_interval:
            doctor = Doctor(services, intake)
            sweepers.append(Sweeper(settings.doctor_interval, doctor.sweep, name="gptu-doctor"))
        for sweeper in sweepers:
            sweeper.start()
        try:
            async with app.state.mcp.session_manager.run():
                yield
        finally:
            for sweeper in sweepers:
                sweeper.stop()

    app = FastAPI(
        title="gptu",
        version="0.1.0",
        description="Answers from your organisation's documents, on your own machines.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(
        BodyLimit, limit=settings.max_body_bytes, upload_limit=settings.max_request_bytes
    )
    install_request_ids(app, metrics)
    install_security_headers(app)
    app.state.metrics = metrics
    app.state.failing_checks = set()  # /readyz logs a failing check once, until it passes again
    app.state.throttle = SharedThrottle(
        settings.redis_url, settings.auth_failures, settings.auth_window
    )
    for module in (
        health,
        account,
        admin,
        collections,
        documents,
        search,
        chat,
        openai,
        feedback,
        traces,
        conversations,
        evals,
        slack,
        mcp_http,
        signin,
        sso,
        sources,
    ):
        app.include_router(module.router, responses=ERROR_RESPONSES)
    app.mount("/static", StaticFiles(directory=WEB), name="static")

    @app.get("/", include_in_schema=False)
    async def home() -> FileResponse:
        return FileResponse(WEB / "index.html")

    @app.get("/upload", include_in_schema=False)
    async def upload_page() -> FileResponse:
        return FileResponse(WEB / "upload.html")

    @app.get("/welcome", include_in_schema=False)
    async def welcome_page() -> FileResponse:
        return FileResponse(WEB / "welcome.html")

    @app.get("/admin", include_in_schema=False)
    async def admin_page() -> FileResponse:
        return FileResponse(WEB / "admin.html")

    @app.get("/account", include_in_schema=False)
    async def account_page() -> FileResponse:
        return FileResponse(WEB / "account.html")

    return app


def workers_alive(celery: Any) -> int | None:
    """Workers that answer a ping within half a second (None when Redis does not answer)."""
    try:
        return len(celery.control.ping(timeout=0.5) or [])
    except Exception:  # kombu raises many types for a broker that is down
        return None


def ping_redis(url: str) -> None:
    """Raise if Redis does not answer."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()
