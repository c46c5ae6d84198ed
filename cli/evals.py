"""`gptu eval` and `gptu export finetune`: the trust loop from the terminal."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from core.settings import Settings

export_cli = typer.Typer(help="Data out of the traces.")


def write_lines(lines: Any, out: Path | None) -> int:
    """JSON lines to a file or stdout; how many."""
    stream = out.open("w", encoding="utf-8") if out else sys.stdout
    count = 0
    try:
        for line in lines:
            stream.write(json.dumps(line, ensure_ascii=False) + "\n")
            count += 1
    finally:
        if out:
            stream.close()
    return count


def database() -> Any:
    """The server's database."""
    from core.db import Database

    return Database(Settings().sqlalchemy_url)


def console() -> Console:
    """A console that does not squeeze tables when the output is a file or a pipe."""
    return Console(width=None if sys.stdout.isatty() else 150)


def show_report(report: dict[str, Any], changes: dict[str, float | None] | None) -> None:
    """The metrics as a table (with deltas against --compare)."""
    out = console()
    title = (
        f"{report['file']}: {report['questions']} questions "
        f"({report['answerable']} answerable, {report['unanswerable']} not)"
    )
    extra = ["Δ vs compare"] if changes is not None else []
    out.print(title)
    table = Table("metric", "value", *extra)
    for name, value in report["metrics"].items():
        shown = "-" if value is None else f"{value:.3f}"
        delta = [] if changes is None else [
            "-" if changes.get(name) is None else f"{changes[name]:+.3f}"
        ]  # fmt: skip
        table.add_row(name, shown, *delta)
    out.print(table)
    for skipped in report["skipped"]:
        out.print(f"[yellow]line {skipped['line']} skipped: {skipped['error']}[/yellow]")


def run(
    target: Annotated[str, typer.Argument(help="FILE.jsonl to evaluate, or `export`.")],
    collection: Annotated[
        list[str] | None, typer.Option("--collection", "-c", help="Collection(s) to search.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    fail_under: Annotated[
        list[str] | None, typer.Option(help="metric=value; exit 1 when missed (repeatable).")
    ] = None,
    compare: Annotated[Path | None, typer.Option(help="An earlier --json report.")] = None,
    rated: Annotated[bool, typer.Option(help="With `export`: rated traces as eval lines.")] = False,
    out: Annotated[Path | None, typer.Option(help="With `export`: write here.")] = None,
    models: Annotated[
        str | None,
        typer.Option(
            help="a,b,…: compare these chat models (catalog names or .gguf paths) in-process "
            "on one --collection, one at a time; the admin page shows the last comparison."
        ),
    ] = None,
) -> None:
    """Run a question set through the running API and score it; `eval export --rated` makes one;
    `--models a,b` compares chat models on it side by side."""
    from cli.evaluate import deltas, failures, run_eval

    if target == "export":
        if not rated:
            raise typer.BadParameter("use `gptu eval export --rated`")
        from answer.exports import eval_lines

        count = write_lines(eval_lines(database()), out)
        typer.echo(f"{count} eval lines from rated answers", err=True)
        return
    settings = Settings()
    path = Path(target)
    if not path.is_file():
        raise typer.BadParameter(f"{target} is not a file")
    if models is not None:
        if fail_under or compare:
            raise typer.BadParameter("--fail-under and --compare work without --models")
        from cli.evalmodels import run_models

        return run_models(path, collection or [], models, as_json)
    try:
        report = run_eval(settings.api_url, settings.api_key, path, collection or None)
    except httpx.HTTPError as exc:
        typer.echo(f"error: the API at {settings.api_url} failed: {exc}", err=True)
        raise typer.Exit(2) from None
    changes = deltas(report, json.loads(compare.read_text())) if compare else None
    if changes is not None:
        report["deltas"] = changes
    if as_json:
        typer.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        show_report(report, changes)
    try:
        missed = failures(report, fail_under or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    for line in missed:
        typer.echo(f"FAIL: {line}", err=True)
    raise typer.Exit(1 if missed else 0)


@export_cli.command("finetune")
def finetune(
    min_rating: Annotated[int, typer.Option(help="Lowest rating to include.")] = 1,
    out: Annotated[Path | None, typer.Option(help="Write here (default: stdout).")] = None,
) -> None:
    """Chat-format JSONL (system, passages + question, answer) from well-rated answers."""
    from answer.exports import finetune_lines

    count = write_lines(finetune_lines(database(), min_rating), out)
    typer.echo(f"{count} examples", err=True)


def rate(value: float | None, ci: list[float] | tuple[float, float]) -> str:
    """'62% (48-74%)'."""
    return "-" if value is None else f"{value:.0%} ({ci[0]:.0%}-{ci[1]:.0%})"


def num(value: float | None) -> str:
    """Three significant digits or a dash."""
    return "-" if value is None else f"{value:.3g}"
