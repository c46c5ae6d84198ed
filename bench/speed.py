"""Speed levers for the packaged model, each against the shipped setup on the same prompts.

Takes the exact prompts the answerer builds for company-set questions (the `context` that
`bench/abstain.py` dumps: excerpts, labels and the question, after gptu's fixed system prompt)
and runs raw llama-cpp-python on them with: the shipped GGUF; prompt-lookup decoding (answers
copy from the passages); the GGUF re-encoded to Q8_0 and to Q4_0 (`llama_model_quantize`);
smaller `n_batch`. Prints per lever: first token p50/p95 (prompt evaluation), generation
tokens/s, answer_correct on those questions, and the ratios against the shipped setup.

Run: `.venv/bin/python bench/speed.py [--model smollm2-135m] [--questions 30]` after
`bench/abstain.py` (which writes bench/out/abstain-features.json).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from answer.llm import REPEAT_PENALTY, STOP
from answer.rag import NOT_FOUND, SYSTEM_PROMPT
from cli.localstack import ROOT
from core.models import ENCODINGS, encoded, model_file, resolve
from core.scoring import is_correct
from core.settings import Settings

FEATURES = ROOT / "bench" / "out" / "abstain-features.json"
COMPANY = ROOT / "tests" / "eval" / "company.jsonl"


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence llama.cpp's per-tensor log on stderr (file descriptor 2) for a while."""
    saved = os.dup(2)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def run(path: Path, prompts: list[list[dict[str, str]]], **options: Any) -> dict[str, Any]:
    """First-token times, tokens/s and answers of one setup over the prompts."""
    from llama_cpp import Llama

    threads = os.cpu_count() or 1
    llm: Any = Llama(model_path=str(path), n_ctx=4096, n_threads=threads, n_threads_batch=threads,
                verbose=False, **options)  # fmt: skip
    firsts, speeds, answers = [], [], []
    for messages in prompts:
        llm.reset()
        started = time.perf_counter()
        first, pieces = 0.0, []
        for chunk in llm.create_chat_completion(
            messages, max_tokens=128, temperature=0.1, stream=True, stop=STOP,
            repeat_penalty=REPEAT_PENALTY,
        ):  # fmt: skip
            text = chunk["choices"][0]["delta"].get("content")
            if text:
                first = first or time.perf_counter() - started
                pieces.append(text)
        total = time.perf_counter() - started
        answer = "".join(pieces)
        tokens = len(llm.tokenize(answer.encode(), add_bos=False))
        firsts.append(first or total)
        if tokens > 1 and total > first:
            speeds.append((tokens - 1) / (total - first))
        answers.append(answer)
    return {"firsts": firsts, "speed": statistics.median(speeds) if speeds else 0.0,
            "answers": answers}  # fmt: skip


def pct(values: list[float], q: int) -> float:
    """A percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(0, round(q / 100 * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--questions", type=int, default=30, help="Answerable questions asked.")
    args = parser.parse_args()
    settings = Settings()
    spec = resolve(args.model, settings.model_cache)
    shipped = model_file(spec, settings.model_cache)
    expected = {i: json.loads(line) for i, line in enumerate(COMPANY.read_text().splitlines(), 1)}
    rows = [r for r in json.loads(FEATURES.read_text()) if r["answerable"] and r["grounded"]]
    rows = rows[: args.questions]
    prompts = [[{"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": r["context"]}] for r in rows]  # fmt: skip
    truths = [expected[r["line"]]["expected_answer"] for r in rows]
    with tempfile.TemporaryDirectory() as tmp:
        from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

        levers: dict[str, tuple[Path, dict[str, Any]]] = {
            f"shipped ({shipped.name})": (shipped, {}),
            "prompt lookup, 10 drafted": (
                shipped, {"draft_model": LlamaPromptLookupDecoding(num_pred_tokens=10)}),
            "prompt lookup, 2 drafted": (
                shipped, {"draft_model": LlamaPromptLookupDecoding(num_pred_tokens=2)}),
            "n_batch 128": (shipped, {"n_batch": 128}),
        }  # fmt: skip
        for name in ENCODINGS:  # the catalog's own re-encoding (`encode = "Q4_0"`)
            with quiet():
                path = encoded(replace(spec, encode=name), shipped, Path(tmp))
            levers[f"re-encoded {name}"] = (path, {})
        results = {name: run(path, prompts, **opts) for name, (path, opts) in levers.items()}
    base = next(iter(results.values()))
    print(f"{args.model}: {len(prompts)} company-set prompts (gptu's excerpts), 2 cores, "
          f"128-token answers")  # fmt: skip
    print(f"{'lever':30}{'ttft p50':>10}{'p95':>8}{'tok/s':>8}{'correct':>9}"
          f"{'ttft x':>8}{'tok/s x':>9}")  # fmt: skip
    for name, got in results.items():
        right = sum(is_correct(t, a) and NOT_FOUND not in a
                    for t, a in zip(truths, got["answers"], strict=True))  # fmt: skip
        p50, p95 = pct(got["firsts"], 50), pct(got["firsts"], 95)
        print(
            f"{name:30}{p50:>9.2f}s{p95:>7.2f}s{got['speed']:>8.1f}{right / len(truths):>9.2f}"
            f"{p50 / pct(base['firsts'], 50):>7.2f}x{got['speed'] / base['speed']:>8.2f}x"
        )


if __name__ == "__main__":
    main()
