"""The terminal side of `gptu ingest`: progress bars and the closing summary."""

from __future__ import annotations

from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from cli.importer import Importer, Outcome, make_plan, walk


def run_import(api_url: str, key: str, root: Path, collection: str, wait: bool, sync: bool) -> int:
    """Import root into collection; exit code 1 when any file failed."""
    console = Console()
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with httpx.Client(base_url=api_url, timeout=300, headers=headers) as client:
        importer = Importer(client, collection)
        try:
            refused = importer.ensure_collection()
        except httpx.HTTPError as exc:
            console.print(f"[red]cannot reach gptu at {api_url}: {exc}[/red]")
            return 2
        if refused:
            console.print(f"[red]gptu refused: {refused} (is GPTU_API_KEY set?)[/red]")
            return 2
        files = list(walk(root))
        plan = make_plan(files, importer.documents(), sync)
        with Progress(console=console) as bar:
            task = bar.add_task("uploading", total=len(plan.upload))
            outcome = importer.run(plan, lambda n: bar.advance(task, n))
        final = {}
        if wait and outcome.uploaded:
            with Progress(console=console) as bar:
                task = bar.add_task("ingesting", total=len(outcome.uploaded))
                final = importer.wait(
                    set(outcome.uploaded.values()), lambda n: bar.advance(task, n)
                )
    return summarize(console, outcome, final, len(plan.skipped))


def summarize(console: Console, outcome: Outcome, final: dict[str, dict], skipped: int) -> int:
    """Print counts and every failure with its reason."""
    failed = dict(outcome.refused)
    ready = 0
    for doc in final.values():
        if doc["status"] == "ready":
            ready += 1
        else:
            failed[doc["filename"]] = doc.get("error") or "failed"
    queued = len(outcome.uploaded) - len(final)
    console.print(
        f"ready: {ready}  failed: {len(failed)}  skipped (unchanged): {skipped}"
        + (f"  queued: {queued}" if queued else "")
        + (f"  removed: {outcome.removed}" if outcome.removed else "")
    )
    if failed:
        table = Table("file", "reason", title="failed")
        for name, reason in sorted(failed.items()):
            table.add_row(name, reason)
        console.print(table)
    return 1 if failed else 0
