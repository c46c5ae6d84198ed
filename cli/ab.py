"""`gptu ab start|stop|report`: an A/B test of a model (a tuned one, say) against the default,
and how the variants fare on real users' ratings."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer
from rich.table import Table

from cli.evals import console, database, num, rate
from core.settings import AB_FILE, Settings

ab_cli = typer.Typer(help="A/B tests of answer variants (GPTU_VARIANTS_FILE or `gptu ab start`).")


@ab_cli.command("start")
def ab_start(
    model: Annotated[str, typer.Argument(help="The model to try: a catalog or tuned model.")],
    share: Annotated[float, typer.Option(help="Share of users who get it (0-1).")] = 0.5,
) -> None:
    """Let a share of users answer with MODEL and the rest with GPTU_MODEL (the control).

    Writes GPTU_DATA_DIR/ab.toml, which the API, and Slack, read when they start: restart them.
    A tuned model goes only to users who may read every collection it was tuned on.
    """
    from core.models import UnrecordedTuning, learnt_from, load_catalog

    settings = Settings()
    path = settings.data_dir / AB_FILE
    if settings.variants_file:
        fail(f"GPTU_VARIANTS_FILE={settings.variants_file} sets the A/B test; unset it first")
    if path.is_file():
        fail(f"an A/B test is running ({path}); `gptu ab stop` ends it")
    if not 0 < share < 1:
        fail("--share is a fraction between 0 and 1, e.g. 0.5")
    catalog = load_catalog(models_dir=settings.data_dir / "models")
    if model not in catalog:
        fail(f"unknown model {model!r}; `gptu models list` shows them")
    if model == settings.model:
        fail(f"{model} is already the default model (GPTU_MODEL): nothing to compare")
    try:
        learnt_from(catalog[model])  # the API would refuse to start with it
    except UnrecordedTuning as exc:
        fail(str(exc))
    name = f"{model}-{time.strftime('%Y%m%d-%H%M%S')}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"# written by `gptu ab start {model}`; `gptu ab stop` ends the test\n"
        f"name = {json.dumps(name)}\n\n"
        f'[[variant]]\nname = "control"  # GPTU_MODEL ({settings.model})\n'
        f"weight = {1 - share:g}\n\n"
        f"[[variant]]\nname = {json.dumps(model)}\nmodel = {json.dumps(model)}\n"
        f"weight = {share:g}\n",
        encoding="utf-8",
    )
    tuned = catalog[model].tuned.get("collections")
    typer.echo(f"A/B test {name}: {share:.0%} of users answer with {model}, the rest with "
               f"{settings.model}. Restart the API (and Slack) to start it: {path}")  # fmt: skip
    if tuned:
        typer.echo(f"{model} goes only to users who may read {', '.join(tuned)}.")


@ab_cli.command("stop")
def ab_stop() -> None:
    """End the A/B test `gptu ab start` began (its answers and ratings stay for the report)."""
    settings = Settings()
    path = settings.data_dir / AB_FILE
    if not path.is_file():
        fail(f"no A/B test was started here ({path} does not exist)")
    ended = path.with_name(f"ab-ended-{time.strftime('%Y%m%d-%H%M%S')}.toml")
    path.rename(ended)
    typer.echo(f"A/B test ended (its file kept as {ended}); restart the API and Slack.")


def fail(message: str) -> None:
    """Print the refusal and exit with status 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


@ab_cli.command("report")
def ab_report(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    min_ratings: Annotated[int, typer.Option(help="Ratings per variant before a verdict.")] = 30,
) -> None:
    """Per variant: 👍 rate, abstention, latency, 95 % intervals and a test against the control."""
    from answer.exports import ab_report as report_of
    from answer.variants import load_experiment

    path = Settings().experiment_file
    order = [v.name for v in load_experiment(path).variants] if path else None
    report = report_of(database(), order, min_ratings)
    if as_json:
        typer.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    table = Table("variant", "answers", "ratings", "👍 rate (95% CI)", "abstention (95% CI)",
                  "p50 s", "p95 s", "p vs control")  # fmt: skip
    for v in report["variants"]:
        table.add_row(
            v["variant"], str(v["answers"]), str(v["ratings"]),
            rate(v["up_rate"], v["up_ci95"]), rate(v["abstention_rate"], v["abstention_ci95"]),
            num(v["latency_p50_s"]), num(v["latency_p95_s"]), num(v.get("p_value_vs_control")),
        )  # fmt: skip
    console().print(table)
    typer.echo(report["verdict"])
