"""Which signal tells an unanswerable question from an answerable one, measured without the model.

Ingests a question set's documents into a local stack, plans every question in-process (the
real retrieval, quote and answerability code, no generation), and prints, for each signal and
threshold, the abstention on unanswerable questions against the false abstention on
answerable ones. With `--report` (a `gptu eval --json` report of the same set) it adds the
refusals of the whole answer path; with `--judge MODEL`, a model asked whether the quote states
the answer (P(yes) from its first token).

Run: `.venv/bin/python bench/abstain.py [--questions tests/eval/company.jsonl --documents
tests/eval/company] [--report bench/out/eval-company-smollm2-135m-quote.json]
[--judge qwen2.5-coder-0.5b]`. It also writes every question's signals and prompt to
bench/out/abstain-features.json (bench/speed.py reads the prompts).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from answer.llm import load_llm
from answer.quote import STOP, WORD, choose, score
from answer.rag import Answerer, missing_numbers
from app.answering import make_answerer
from app.services import build_services
from bench.eval import ingest
from cli.evaluate import load_questions
from cli.localstack import ROOT, stack_env, start_stack
from core.models import model_file, resolve
from core.offline import go_offline
from core.settings import Settings

JUDGE_ASKS = "Does the text state the answer to this exact question? Reply Yes or No."
JUDGE = "You check whether a text states the answer to a question. Reply Yes or No."


def features(answerer: Answerer, question: str) -> dict[str, Any]:
    """The signals for one question, and what the model would read (for bench/speed.py)."""
    history = [{"role": "user", "content": question}]
    hits = answerer.search.search(question, ["eval"], answerer.k)
    scored = score(question, hits, answerer.search.embedder)
    quote = choose(hits, scored)
    plan = answerer.plan(history, ["eval"])
    return {
        "similarity": max((h.similarity or 0 for h in hits), default=0.0),
        "quote": quote[0].score if quote else 0.0,
        "numbers": missing_numbers(question, plan.passages),
        "absent": absent(question, hits),
        "grounded": plan.grounded,
        "quote_text": quote[0].text if quote else "",
        "context": plan.messages[-1]["content"],
        "sources": [(p.filename, p.similarity, p.lexical) for p in plan.passages],
    }


def absent(question: str, hits: list[Any]) -> list[str]:
    """The question's words that no retrieved passage, file name or title holds."""
    held = set()
    for h in hits:
        held |= {w.lower() for w in WORD.findall(f"{h.text} {h.filename} {h.section or ''}")}
    return [w for w in WORD.findall(question) if w.lower() not in STOP and w.lower() not in held]


def judged(model: str, rows: list[dict[str, Any]], questions: dict[int, str]) -> None:
    """A model asked "does this text state the answer?" about each quote: P(yes) per row."""
    from llama_cpp import Llama

    settings = Settings()
    path = model_file(resolve(model, settings.model_cache), settings.model_cache)
    llm: Any = Llama(str(path), n_ctx=2048, n_threads=2, logits_all=True, verbose=False)
    for row in rows:
        ask = (f"Text: {row['quote_text']}\n\nQuestion: {questions[row['line']]}\n\n"
               f"{JUDGE_ASKS}")  # fmt: skip
        messages = [{"role": "system", "content": JUDGE}, {"role": "user", "content": ask}]
        reply: Any = llm.create_chat_completion(
            messages, max_tokens=1, logprobs=True, top_logprobs=20, temperature=0
        )
        odds = {"yes": -30.0, "no": -30.0}
        for top in reversed(reply["choices"][0]["logprobs"]["content"][0]["top_logprobs"]):
            word = top["token"].strip().lower()
            if word in odds:
                odds[word] = top["logprob"]
        yes, no = math.exp(odds["yes"]), math.exp(odds["no"])
        row["judge"] = yes / (yes + no)


def sweep(rows: list[dict[str, Any]], name: str, values: list[float]) -> None:
    """Abstain when the signal is below each value: abstention vs false abstention."""
    for value in values:
        show(f"{name} < {value:.2f}", rows, lambda r, v=value: r[name] < v)


def show(label: str, rows: list[dict[str, Any]], refuse: Any) -> None:
    """One line: the rule, then abstention and false abstention."""
    near = [refuse(r) for r in rows if not r["answerable"]]
    real = [refuse(r) for r in rows if r["answerable"]]
    print(f"{label:44} abstention {sum(near) / len(near):.3f}   "
          f"false abstention {sum(real) / len(real):.3f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=Path, default=ROOT / "tests/eval/company.jsonl")
    parser.add_argument("--documents", type=Path, default=ROOT / "tests/eval/company")
    parser.add_argument("--report", type=Path, help="A gptu eval --json report (model refusals).")
    parser.add_argument("--judge", help="Also ask this catalog model whether the quote answers.")
    parser.add_argument("--dump", type=Path, default=ROOT / "bench/out/abstain-features.json")
    args = parser.parse_args()
    go_offline()
    questions, _ = load_questions(args.questions)
    with tempfile.TemporaryDirectory() as tmp:
        env = stack_env(Path(tmp))
        stack = start_stack(Path(tmp), env)
        try:
            ingest(stack, sorted(args.documents.iterdir()))
            settings = Settings.model_validate(
                {k[5:].lower(): v for k, v in env.items() if k[:5] == "GPTU_"}
            )
            services = build_services(settings, threads=2)
            answerer = make_answerer(settings, services, load_llm(settings))
            rows = [
                {"line": q.line, "answerable": bool(q.answerable), **features(answerer, q.question)}
                for q in questions
                if q.answerable is not None
            ]
        finally:
            stack.stop()
    args.dump.parent.mkdir(exist_ok=True)
    args.dump.write_text(json.dumps(rows, indent=1))
    refused = {}
    if args.report:
        outcomes = json.loads(args.report.read_text())["outcomes"]
        refused = {o["line"]: o["abstained"] for o in outcomes}
    print(f"{args.questions.name}: {sum(not r['answerable'] for r in rows)} unanswerable, "
          f"{sum(r['answerable'] for r in rows)} answerable")  # fmt: skip
    show("today's plan (grounded)", rows, lambda r: not r["grounded"])
    sweep(rows, "similarity", [0.3, 0.38, 0.45, 0.5, 0.55, 0.6])
    sweep(rows, "quote", [0.3, 0.4, 0.5, 0.6, 0.7])
    show("a number the question names is missing", rows, lambda r: bool(r["numbers"]))
    show("a question word the passages lack", rows, lambda r: bool(r["absent"]))
    if refused:
        show("the model's answer is the refusal", rows, lambda r: refused.get(r["line"], False))
    if args.judge:
        started = time.perf_counter()
        judged(args.judge, rows, {q.line: q.question for q in questions})
        each = (time.perf_counter() - started) / len(rows)
        print(f"{args.judge} as a judge of the quote ({each:.2f} s per question):")
        sweep(rows, "judge", [0.2, 0.3, 0.4, 0.5])


if __name__ == "__main__":
    main()
