"""An eval question set against one model, for one or more prompt budgets, in one run.

Ingests the set's documents once (the company set: tests/eval/company; other sets: the corpus
files they name plus large distractors), then for each `--context-tokens` value restarts the API
with it, runs `gptu eval` and times streamed answers (quote event, first token). Prints one
table with a column per budget (0 = the old prompt of whole passages) and ratios against the
first, and writes each JSON report to bench/out/eval-<set>-<model>-<budget>.json (`gptu eval …
--compare` reads them). `--every 5` asks every 5th question only (the test gate's sample).

`--vary SETTING=V1,V2` makes the columns another API setting's values instead (e.g.
GPTU_ANSWER_CHECK=off,quote), `--columns A=1+B=2 A=3+B=4` columns of several settings each, and
`--set SETTING=V …` applies settings to every column.

Run: `.venv/bin/python bench/eval.py [--model qwen2.5-coder-0.5b] [--context-tokens 0 400]
[--questions tests/eval/company.jsonl --documents tests/eval/company] [--vary …] [--set …]`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cli.evaluate import load_questions
from cli.localstack import GPTU, ROOT, Stack, stack_env, start_stack, wait_until
from core.offline import go_offline
from tests.conftest import CORPUS
from tests.integration.test_eval import COMPANY, DOCUMENTS

# The first question set (tests/eval/corpus.jsonl) asks about files of ../shared/corpus; these
# large ones no question is about are ingested with them, so retrieval can get something wrong.
DISTRACTORS = ["example-10k.html", "winter-sports.epub", "korean-text-with-tables.pdf",
               "csv-with-long-lines.csv", "sample-presentation.pptx"]  # fmt: skip

SHOWN = ("recall@5", "mrr", "answer_correct", "quote_correct", "seen_correct",
         "citation_precision", "abstention", "false_abstention", "latency_p50_s")  # fmt: skip


def corpus_files(questions: Path) -> list[Path]:
    """The corpus files a question set expects answers from, and the distractors."""
    names = set(DISTRACTORS)
    for line in questions.read_text().splitlines():
        names.update(json.loads(line).get("expected_sources", []))
    return [CORPUS / name for name in sorted(names)]


def ingest(stack: Stack, files: list[Path], collection: str = "eval") -> None:
    """The files into the collection (default 'eval')."""
    with stack.client() as admin:
        admin.post("/v1/collections", json={"name": collection}).raise_for_status()
        handles = [("file", (f.name, f.read_bytes())) for f in files]
        admin.post("/v1/documents", data={"collection": collection}, files=handles)

        def ingested() -> bool:
            docs = admin.get("/v1/documents", params={"collection": collection}).json()
            return all(d["status"] in ("ready", "failed") for d in docs)

        wait_until(ingested, 900, "ingestion")


def restart_api(stack: Stack, **env: str) -> None:
    """Stop the API, change its settings, start it again and wait until it is ready."""
    api = stack.processes[-1]
    api.stop()
    api.env = {**api.env, **env}
    api.start()
    wait_until(lambda: httpx.get(f"{stack.api_url}/readyz").status_code == 200, 120, "API ready")


def timings(stack: Stack, questions: list[str]) -> dict[str, float]:
    """p50/p95 of the quote event and of the first answer token, streamed through /v1/chat."""
    quotes, firsts = [], []
    for question in questions:
        body = {"messages": [{"role": "user", "content": question}], "collections": ["eval"]}
        started = time.perf_counter()
        quoted = first = 0.0
        with httpx.stream("POST", f"{stack.api_url}/v1/chat", json=body,
                          headers=stack.headers(), timeout=600) as answer:  # fmt: skip
            for line in answer.iter_lines():
                now = time.perf_counter() - started
                if line == "event: quote":
                    quoted = now
                elif line == "event: token" and not first:
                    first = now
        quotes.append(quoted)
        if first:
            firsts.append(first)
    return {"quote_p50_s": pct(quotes, 50), "ttft_p50_s": pct(firsts, 50),
            "ttft_p95_s": pct(firsts, 95)}  # fmt: skip


def pct(values: list[float], q: int) -> float:
    """A percentile (nearest rank)."""
    ordered = sorted(values) or [0.0]
    return ordered[max(0, round(q / 100 * len(ordered)) - 1)]


def main() -> None:
    """Start, ingest, then evaluate and time each budget; print one table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--max-tokens", default="256")
    parser.add_argument("--context-tokens", nargs="+", default=["0", "400"])
    parser.add_argument(
        "--vary",
        metavar="SETTING=V1,V2",
        help="Columns by another setting instead, e.g. GPTU_ANSWER_CHECK=off,quote.",
    )
    parser.add_argument(
        "--columns",
        nargs="+",
        metavar="S=V+S=V",
        help="Columns of several settings each, e.g. GPTU_MODEL=x+GPTU_CONTEXT_TOKENS=500.",
    )
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="SETTING=V", help="Settings for every column."
    )
    parser.add_argument("--timed", type=int, default=20, help="Answerable questions to time.")
    parser.add_argument("--questions", type=Path, default=COMPANY, help="A question set.")
    parser.add_argument("--every", type=int, default=1, help="Ask every n-th question only.")
    parser.add_argument(
        "--documents",
        type=Path,
        help="Folder of its documents (company set: its own folder; "
        "other sets: the corpus files they name, plus large distractors)",
    )
    args = parser.parse_args()
    go_offline()
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    if args.documents is None and args.questions == COMPANY:
        args.documents = DOCUMENTS
    files = sorted(args.documents.iterdir()) if args.documents else corpus_files(args.questions)
    asked = args.questions
    if args.every > 1:
        asked = out / f"{args.questions.stem}-every{args.every}.jsonl"
        lines = args.questions.read_text().splitlines()[:: args.every]
        asked.write_text("\n".join(lines) + "\n")
    questions, _ = load_questions(asked)
    timed = [q.question for q in questions if q.answerable][: args.timed]
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        fixed = dict(item.split("=", 1) for item in args.set)
        env = stack_env(Path(tmp), GPTU_MODEL=args.model, GPTU_MAX_ANSWER_TOKENS=args.max_tokens,
                        **fixed)  # fmt: skip
        stack = start_stack(Path(tmp), env)
        try:
            ingest(stack, files)
            for worker in stack.workers:
                worker.stop()  # nothing else competes for the two cores from here on
            for budget, setting in columns(args):
                restart_api(stack, **setting)
                command = [*GPTU, "eval", str(asked), "--collection", "eval", "--json"]
                done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
                report = json.loads(done.stdout)
                name = f"eval-{asked.stem}-{Path(args.model).stem}-{budget}.json"
                (out / name).write_text(done.stdout)
                results[budget] = {**report["metrics"], **timings(stack, timed)}
        finally:
            stack.stop()
    show(args, results)


def columns(args: argparse.Namespace) -> list[tuple[str, dict[str, str]]]:
    """(column name, the API settings it runs with): one per budget, or per --vary value."""
    if args.columns:
        chosen = [dict(kv.split("=", 1) for kv in c.split("+")) for c in args.columns]
        return [("-".join(safe(v) for v in c.values()), c) for c in chosen]
    if not args.vary:
        return [(b, {"GPTU_CONTEXT_TOKENS": b}) for b in args.context_tokens]
    name, _, values = args.vary.partition("=")
    return [(safe(v), {name: v}) for v in values.split(",")]


def safe(value: str) -> str:
    """A setting's value as part of a file name: a path's file name without .gguf."""
    return Path(value).name.removesuffix(".gguf")


def show(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> None:
    """One row per metric, one column per budget, and the ratio of the last to the first."""
    budgets = list(results)
    varied = args.vary.partition("=")[0] if args.vary else "GPTU_CONTEXT_TOKENS"
    varied = "columns" if args.columns else varied
    print(f"{args.questions.name}: model {args.model}, answers up to {args.max_tokens} tokens, "
          f"{' '.join(args.set)}; {varied} = {', '.join(budgets)}")  # fmt: skip
    rows = [*SHOWN, "quote_p50_s", "ttft_p50_s", "ttft_p95_s"]
    print(f"{'metric':20}" + "".join(f"{b:>10}" for b in budgets) + f"{'last/first':>12}")
    for row in rows:
        values = [results[b].get(row) for b in budgets]
        cells = "".join(f"{'-' if v is None else f'{v:.3f}':>10}" for v in values)
        first, last = values[0], values[-1]
        ratio = f"{last / first:.2f}x" if first and last is not None else "-"
        print(f"{row:20}{cells}{ratio:>12}")
    print(f"(quote and first-token times: {args.timed} answerable questions streamed one by one)")


if __name__ == "__main__":
    main()
