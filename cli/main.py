"""The `gptu` command: run the services, import folders, re-embed collections."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated
from urllib.parse import urlparse

import typer

from cli.ab import ab_cli
from cli.binaries import redis_server, venv_tool
from cli.evals import export_cli
from cli.evals import run as eval_run
from cli.operate import backup, doctor, migrate, require_schema, restore
from cli.sources import sources_cli
from cli.users import groups_cli, users_cli
from core.offline import go_offline
from core.settings import Settings

cli = typer.Typer(help="gptu: answers from your organisation's documents.", no_args_is_help=True)


@cli.command()
def serve() -> None:
    """Run the API (and the upload portal) on GPTU_HOST:GPTU_PORT."""
    import uvicorn

    from app.answering import check_models
    from core.errors import GptuError

    settings = Settings()
    go_offline()
    require_schema(settings)
    try:
        check_models(settings)
    except GptuError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        raise typer.Exit(1) from exc
    print(f"gptu API on http://{settings.host}:{settings.port}", flush=True)
    uvicorn.run(
        "api.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        access_log=False,  # the API logs each request itself, with its request id
        log_config=None,  # uvicorn's own lines go through our handler too (JSON lines)
    )


@cli.command()
def worker() -> None:
    """Run an ingestion worker at lower CPU priority, threads sized to its share of cores."""
    settings = Settings()
    go_offline()
    threads = str(settings.threads_per_task())
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = threads
    if settings.worker_nice:
        os.nice(settings.worker_nice)
    args = [
        sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker",
        "--loglevel", settings.log_level, "--concurrency", str(settings.worker_concurrency),
        "-Q", "ingest,sources", "--without-gossip", "--without-mingle", "--pool", "prefork",
    ]  # fmt: skip
    os.execv(sys.executable, args)


@cli.command()
def beat() -> None:
    """Run Celery beat: asks every GPTU_SOURCE_CHECK seconds which sources are due a sync (one
    beat per installation; the workers run the syncs)."""
    settings = Settings()
    go_offline()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    args = [
        sys.executable, "-m", "celery", "-A", "worker.celery_app", "beat",
        "--loglevel", settings.log_level,
        "--schedule", str(settings.data_dir / "celerybeat-schedule"),
    ]  # fmt: skip
    os.execv(sys.executable, args)


@cli.command()
def redis() -> None:
    """Run redis-server on the port of GPTU_REDIS_URL, data in GPTU_DATA_DIR/redis."""
    settings = Settings()
    url = urlparse(settings.redis_url)
    folder = settings.data_dir / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    binary = redis_server()
    args = [binary, "--port", str(url.port or 6379), "--bind", url.hostname or "127.0.0.1"]
    args += ["--dir", str(folder.resolve()), "--appendonly", "yes", "--save", ""]
    os.execv(binary, args)


@cli.command()
def chroma() -> None:
    """Run the Chroma server on GPTU_CHROMA_HOST:GPTU_CHROMA_PORT, data in GPTU_DATA_DIR/chroma."""
    settings = Settings()
    go_offline()
    os.environ.setdefault("RUST_LOG", "warn")  # not a line per request
    binary = venv_tool("chroma")
    args = [binary, "run", "--path", str(settings.chroma_path), "--host", settings.chroma_host]
    os.execv(binary, [*args, "--port", str(settings.chroma_port)])


@cli.command()
def ingest(
    path: Annotated[Path, typer.Argument(exists=True, help="A folder (recursive) or a file.")],
    collection: Annotated[str, typer.Option("--collection", "-c", help="Target collection.")],
    wait: Annotated[bool, typer.Option(help="Wait until every file is ready or failed.")] = False,
    sync: Annotated[bool, typer.Option(help="Delete documents whose files are gone.")] = False,
) -> None:
    """Import a folder through the API: new and changed files go in, unchanged ones are skipped."""
    from cli.import_folder import run_import

    settings = Settings()
    code = run_import(settings.api_url, settings.api_key, path, collection, wait=wait, sync=sync)
    raise typer.Exit(code)


@cli.command()
def slack(
    socket: Annotated[bool, typer.Option(help="Socket Mode (no public URL needed).")] = False,
) -> None:
    """Run the Slack bot over Socket Mode; HTTP mode is served by `gptu serve` at /slack/events."""
    settings = Settings()
    if not socket:
        print(
            "HTTP mode: `gptu serve` answers Slack at /slack/events when GPTU_SLACK_BOT_TOKEN "
            "and GPTU_SLACK_SIGNING_SECRET are set. Use --socket to connect out instead."
        )
        raise typer.Exit(2)
    if not (settings.slack_bot_token and settings.slack_app_token):
        print("error: Socket Mode needs GPTU_SLACK_BOT_TOKEN and GPTU_SLACK_APP_TOKEN")
        raise typer.Exit(2)
    from slackbot.socket_mode import run_socket_mode

    go_offline()
    run_socket_mode(settings)


cli.command("eval")(eval_run)
cli.command()(doctor)
cli.command()(backup)
cli.command()(restore)
cli.command()(migrate)
cli.add_typer(export_cli, name="export")
cli.add_typer(ab_cli, name="ab")
cli.add_typer(users_cli, name="users")
cli.add_typer(groups_cli, name="groups")
cli.add_typer(sources_cli, name="sources")
models_cli = typer.Typer(help="The chat models of models/catalog.toml.")
cli.add_typer(models_cli, name="models")


@models_cli.command("list")
def models_list() -> None:
    """Show the catalog, which models are installed and which one is active (GPTU_MODEL)."""
    from core.models import describe, load_catalog

    settings = Settings()
    for name, spec in load_catalog(models_dir=settings.data_dir / "models").items():
        where = describe(spec, settings.model_cache)
        active = "*" if name == settings.model else " "
        print(f"{active} {name:22} {spec.description}\n    {where}")
        if spec.tuned.get("collections"):
            readers = ", ".join(spec.tuned["collections"])
            unsure = "" if spec.tuned.get("collection_ids") else " (by name only: tune it again)"
            print(f"    only for users who may read: {readers}{unsure}")


@models_cli.command("path")
def models_path() -> None:
    """Print the GGUF file of GPTU_MODEL (assembled on first use), e.g. for llama_cpp.server."""
    from core.models import ModelUnavailable, load_catalog, model_file, resolve

    settings = Settings()
    catalog = load_catalog(models_dir=settings.data_dir / "models")
    try:
        print(model_file(resolve(settings.model, settings.model_cache, catalog),
                         settings.model_cache))  # fmt: skip
    except ModelUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(1) from exc


@cli.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    collection: Annotated[
        list[str] | None, typer.Option("--collection", "-c", help="Collection(s) to search.")
    ] = None,
) -> None:
    """Ask the running API; prints the answer as it streams, then its sources."""
    from cli.ask import run_ask

    settings = Settings()
    raise typer.Exit(run_ask(settings.api_url, settings.api_key, question, collection or None))


@cli.command()
def mcp(
    url: Annotated[str | None, typer.Option(help="The gptu API; default GPTU_API_URL.")] = None,
    key: Annotated[
        str | None, typer.Option(help="API key; default GPTU_API_KEY (unlike --key, not in ps).")
    ] = None,
) -> None:
    """Serve the MCP tools search, ask and list_collections over stdio, as the key's user."""
    from cli.mcp_stdio import run_stdio

    settings = Settings()
    raise typer.Exit(run_stdio(settings, url or settings.api_url, key or settings.api_key))


@cli.command()
def reindex(
    collection: Annotated[str, typer.Argument(help="The collection to re-embed.")],
    embedder: Annotated[
        str | None,
        typer.Option(help="minilm or bge-small; default GPTU_EMBEDDER (new collections')."),
    ] = None,
) -> None:
    """Re-embed a collection with another embedder; search answers from the old vectors until
    the new ones are complete. Talks to the database and Chroma directly (run it on the server)."""
    from app.reindex import reindex as run_reindex
    from app.services import build_services
    from core.errors import GptuError

    settings = Settings()
    go_offline()
    services = build_services(settings)
    try:
        done = run_reindex(services, collection, embedder or settings.embedder, progress=print)
    except GptuError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        raise typer.Exit(1) from exc
    if done.before == done.after:
        print(f"{collection} already uses {done.after}; nothing to do")
        return
    print(
        f"{collection}: {done.documents} documents, {done.chunks} chunks re-embedded "
        f"{done.before} → {done.after} in {done.seconds:.1f} s"
    )


@cli.command()
def tune(
    collection: Annotated[
        str | None, typer.Option("--collection", "-c", help="The collection to tune on.")
    ] = None,
    base: Annotated[str, typer.Option(help="The catalog model to tune.")] = "smollm2-135m",
    steps: Annotated[int, typer.Option(help="Training steps; 0 = two passes over the data.")] = 0,
    examples: Annotated[int, typer.Option(help="Chunks the teacher writes questions on.")] = 300,
    teacher: Annotated[
        str,
        typer.Option(
            help="Catalog model writing the questions; default GPTU_LLM_URL, else "
            "the best installed."
        ),
    ] = "",
    name: Annotated[str, typer.Option(help="Tuned model name; default COLLECTION-BASE.")] = "",
    answers: Annotated[
        str,
        typer.Option(
            help="The examples' answers: as the teacher wrote them (written), copied word for "
            "word from the passage part that says them (copied), or the teacher's own answers "
            "in the answerer's prompt (answered: one more teacher reply per example); default "
            "answered with Qwen2.5-Coder-1.5B as teacher, else written."
        ),
    ] = "",
    encoding: Annotated[str, typer.Option(help="Q4_0, Q8_0 or Q4_1.")] = "Q4_0",
    threads: Annotated[int, typer.Option(help="Training threads; 0 = every core but one.")] = 0,
    batch: Annotated[int, typer.Option(help="Examples per training step.")] = 4,
    measure: Annotated[bool, typer.Option(help="Base vs tuned on held-out questions.")] = True,
    resume: Annotated[str | None, typer.Option(help="Continue this run (its folder name).")] = None,
    reviewed: Annotated[
        Path | None,
        typer.Option(
            help="A `gptu export eval` file whose 👎 lines got their right answer "
            "(expected_answer) from a reviewer: those join the examples.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    questions: Annotated[
        Path | None,
        typer.Option(
            help="Questions written by others about the collection (`gptu eval` lines: "
            "question, expected_answer, answerable): base and tuned are measured on them too.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Tune a model on a collection: questions a teacher writes about its chunks (plus 👍-rated
    answers and reviewed 👎 ones) → LoRA in .venv-tune → GGUF in GPTU_DATA_DIR/models, measured
    and registered. Talks to the database and Chroma directly (run it on the server)."""
    from cli.tune import TuneRun, run_tune
    from cli.tunedata import ANSWERS

    if not collection and not resume:
        raise typer.BadParameter("give --collection, or --resume RUN")
    if answers and answers not in ANSWERS:
        raise typer.BadParameter(f"--answers is one of {', '.join(ANSWERS)}")
    settings = Settings()
    go_offline()
    run = TuneRun(collection or "", base, name, teacher, examples, steps, batch=batch,
                  encoding=encoding, threads=threads, measure=measure,
                  reviewed=str(reviewed.resolve()) if reviewed else "",
                  questions=str(questions.resolve()) if questions else "",
                  answers=answers)  # fmt: skip
    raise typer.Exit(run_tune(settings, None if resume else run, resume))


@cli.command()
def openapi(
    write: Annotated[Path | None, typer.Option(help="Write to this file instead.")] = None,
) -> None:
    """Print the API's OpenAPI schema (`make openapi` pins it in tests/contract/openapi.json)."""
    from cli.contract import openapi_schema, render

    text = render(openapi_schema())
    if write is None:
        print(text, end="")
    else:
        write.write_text(text)


def main() -> None:
    """Entry point of the `gptu` script."""
    cli()


if __name__ == "__main__":
    main()
