"""Eval question sets against one model, for one or more settings, side by side, in one run.

The sets (`--sets`, default both): `company` (tests/eval/company.jsonl over tests/eval/company,
written by us) and `handbooks` (tests/eval/handbooks.jsonl: two organisations' own rules with
H2O.ai's questions, plus our near-misses in handbooks-near-miss.jsonl; tests/eval/SOURCES.md).
Each set is ingested once into its own collection; then for each column (a `--context-tokens`
value, or `--vary`/`--columns` settings) the API restarts with it, `gptu eval` runs every set
and streamed answers are timed (quote event, first token). Prints one table per set with a
column per setting and the ratio of the last to the first, including the **loss chain**: the
share of the expected answer's facts (numbers, names) in the sources listed → the top source →
the quote → what the model reads → the answer → what a person sees (quote + answer). Each JSON
report goes to bench/out/eval-<set>-<model>-<column>.json (`gptu eval … --compare` reads them).
`--every 5` asks every 5th question only (the test gate's sample).

`--vary SETTING=V1,V2` makes the columns another API setting's values instead (e.g.
GPTU_ANSWER_CHECK=off,quote), `--columns A=1+B=2 A=3+B=4` columns of several settings each, and
`--set SETTING=V …` applies settings to every column. `--questions F --documents D` evaluates
one other set instead (a corpus set without --documents: the corpus files it names plus
large distractors). `--distractors 5000` also asks each set with 5,000 unrelated documents
(bench/distractors.py) in 5 collections of their own searched with it, as the chat page
searches every collection a person may read (tables "<set>+5000others").

Run: `.venv/bin/python bench/eval.py [--model qwen2.5-coder-0.5b] [--sets handbooks]
[--every 3] [--context-tokens 0 400] [--vary …] [--set …]`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.distractors import write_distractors
from cli.evaluate import STAGES, load_questions
from cli.localstack import GPTU, ROOT, Stack, stack_env, start_stack, wait_until
from core.offline import go_offline
from tests.conftest import CORPUS
from tests.integration.test_eval import COMPANY, DOCUMENTS, HANDBOOKS, NEAR_MISSES

# The first question set (tests/eval/corpus.jsonl) asks about files of ../shared/corpus; these
# large ones no question is about are ingested with them, so retrieval can get something wrong.
DISTRACTORS = ["example-10k.html", "winter-sports.epub", "korean-text-with-tables.pdf",
               "csv-with-long-lines.csv", "sample-presentation.pptx"]  # fmt: skip

SHOWN = ("recall@1", "recall@5", "mrr", "answer_correct", "quote_correct", "seen_correct",
         "citation_precision", "abstention", "near_miss_abstention", "false_abstention",
         *(f"facts_{stage}" for stage in STAGES), "quote_chars_p50",
         "latency_p50_s")  # fmt: skip
# name: (question files, documents folder)
SETS = {"company": ([COMPANY], DOCUMENTS),
        "handbooks": ([HANDBOOKS, NEAR_MISSES], HANDBOOKS.with_suffix(""))}  # fmt: skip


@dataclass
class EvalSet:
    """A question set to ask: its name, its questions (a file), its documents and collection."""

    name: str
    questions: Path
    files: list[Path]
    collection: str  # the collection its documents go into
    others: list[str] = field(default_factory=list)  # distractor collections searched with it

    @property
    def searched(self) -> list[str]:
        """Every collection its questions search."""
        return [self.collection, *self.others]


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
        for start in range(0, len(files), 500):  # an upload takes up to 1,000 files
            handles = [("file", (f.name, f.read_bytes())) for f in files[start : start + 500]]
            admin.post("/v1/documents", data={"collection": collection}, files=handles)

        def ingested() -> bool:
            docs = admin.get("/v1/documents", params={"collection": collection}).json()
            return all(d["status"] in ("ready", "failed") for d in docs)

        wait_until(ingested, 3600, "ingestion")


def restart_api(stack: Stack, **env: str) -> None:
    """Stop the API, change its settings, start it again and wait until it is ready."""
    api = stack.processes[-1]
    api.stop()
    api.env = {**api.env, **env}
    api.start()
    wait_until(lambda: httpx.get(f"{stack.api_url}/readyz").status_code == 200, 120, "API ready")


def timings(stack: Stack, questions: list[str], collections: list[str]) -> dict[str, float]:
    """p50/p95 of the quote event and of the first answer token, streamed through /v1/chat."""
    quotes, firsts = [], []
    for question in questions:
        body = {"messages": [{"role": "user", "content": question}],
                "collections": collections}  # fmt: skip
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
    """Start, ingest every set, then evaluate and time each column; print a table per set."""
    args = arguments()
    go_offline()
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    chosen = eval_sets(args, out)
    results: dict[str, dict[str, dict[str, Any]]] = {chosen_set.name: {} for chosen_set in chosen}
    with tempfile.TemporaryDirectory() as tmp:
        fixed = dict(item.split("=", 1) for item in args.set)
        env = stack_env(Path(tmp), GPTU_MODEL=args.model, GPTU_MAX_ANSWER_TOKENS=args.max_tokens,
                        **fixed)  # fmt: skip
        stack = start_stack(Path(tmp), env)
        try:
            for chosen_set in chosen:
                ingest(stack, chosen_set.files, chosen_set.collection)
            if args.distractors:
                others = distract(stack, Path(tmp) / "others", args)
                chosen += [replace(c, name=f"{c.name}+{args.distractors}others", others=others)
                           for c in chosen]  # fmt: skip
                results.update({c.name: {} for c in chosen})
            for worker in stack.workers:
                worker.stop()  # nothing else competes for the two cores from here on
            for column, setting in columns(args):
                restart_api(stack, **setting)
                for chosen_set in chosen:
                    results[chosen_set.name][column] = evaluate(
                        stack, env, chosen_set, args, out / f"eval-{chosen_set.name}-"
                        f"{safe(args.model)}-{column}.json",
                    )  # fmt: skip
        finally:
            stack.stop()
    for chosen_set in chosen:
        show(args, chosen_set.name, results[chosen_set.name])


def arguments() -> argparse.Namespace:
    """The command line."""
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
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--questions", type=Path, help="Another question set (instead of --sets).")
    parser.add_argument("--every", type=int, default=1, help="Ask every n-th question only.")
    parser.add_argument(
        "--distractors",
        type=int,
        default=0,
        help="Also ask each set with N unrelated documents (bench/distractors.py) searched too.",
    )
    parser.add_argument("--distractor-collections", type=int, default=5)
    parser.add_argument(
        "--documents",
        type=Path,
        help="Folder of the --questions set's documents (default: the corpus files it names, "
        "plus large distractors)",
    )
    return parser.parse_args()


def distract(stack: Stack, folder: Path, args: argparse.Namespace) -> list[str]:
    """--distractors unrelated documents in collections of their own (bench/distractors.py)."""
    files = write_distractors(folder, args.distractors)
    names = [f"other-{i + 1}" for i in range(args.distractor_collections)]
    for i, name in enumerate(names):
        ingest(stack, files[i :: len(names)], name)
    return names


def eval_sets(args: argparse.Namespace, out: Path) -> list[EvalSet]:
    """The sets asked: each one's questions (every n-th, written to out) and documents."""
    named = {"custom": ([args.questions], args.documents)} if args.questions else SETS
    chosen = []
    for name, (paths, documents) in named.items():
        if not args.questions and name not in args.sets:
            continue
        lines = [line for path in paths for line in path.read_text().splitlines() if line.strip()]
        asked = out / f"{name}-every{args.every}.jsonl"
        asked.write_text("\n".join(lines[:: args.every]) + "\n")
        files = sorted(documents.iterdir()) if documents else corpus_files(paths[0])
        chosen.append(EvalSet(name, asked, files, f"eval-{name}"))
    return chosen


def evaluate(
    stack: Stack, env: dict[str, str], chosen: EvalSet, args: argparse.Namespace, report: Path
) -> dict[str, Any]:
    """One set through `gptu eval` (its report written to `report`) and timed streams."""
    searched = [x for name in chosen.searched for x in ("--collection", name)]
    command = [*GPTU, "eval", str(chosen.questions), *searched, "--json"]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"gptu eval failed: {done.stderr[-2000:]}")
    report.write_text(done.stdout)
    questions, _ = load_questions(chosen.questions)
    timed = [q.question for q in questions if q.answerable][: args.timed]
    return {**json.loads(done.stdout)["metrics"], **timings(stack, timed, chosen.searched)}


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


def show(args: argparse.Namespace, name: str, results: dict[str, dict[str, Any]]) -> None:
    """One row per metric, one column per setting, and the ratio of the last to the first."""
    budgets = list(results)
    varied = args.vary.partition("=")[0] if args.vary else "GPTU_CONTEXT_TOKENS"
    varied = "columns" if args.columns else varied
    print(f"\nset {name}: model {args.model}, answers up to {args.max_tokens} tokens, "
          f"every {args.every}. question, {' '.join(args.set)}; {varied} = "
          f"{', '.join(budgets)}")  # fmt: skip
    rows = [*SHOWN, "quote_p50_s", "ttft_p50_s", "ttft_p95_s"]
    print(f"{'metric':22}" + "".join(f"{b:>10}" for b in budgets) + f"{'last/first':>12}")
    for row in rows:
        values = [results[b].get(row) for b in budgets]
        cells = "".join(f"{'-' if v is None else f'{v:.3f}':>10}" for v in values)
        first, last = values[0], values[-1]
        ratio = f"{last / first:.2f}x" if first and last is not None else "-"
        print(f"{row:22}{cells}{ratio:>12}")
    print(f"(facts_*: the loss chain, share of the expected answer's numbers and names; quote "
          f"and first-token times: {args.timed} answerable questions, one by one)")  # fmt: skip


if __name__ == "__main__":
    main()
