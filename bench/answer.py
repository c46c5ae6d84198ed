"""Answer benchmark: our API vs raw llama-cpp-python on the same prompts, in one run.

Prints: stream rate ratio (target >= 0.95), time to first token vs raw prompt evaluation
(target <= 1.2), TTFT p50/p95 with the default top-k on the corpus index, what the cached
system prompt saves, tokens/s against memory bandwidth / model size, and API RSS.

Run: `.venv/bin/python bench/answer.py [--model NAME]` (ingests ../shared/corpus first).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cli.localstack import ROOT, Stack, stack_env, start_stack, wait_until
from core.offline import go_offline

CORPUS = ROOT.parent / "shared" / "corpus"
SKIP = {"MANIFEST.tsv", "handbook-872p.docx"}
# (question, facts of which one must appear in a right answer; None = not in the documents)
EVAL: list[tuple[str, list[str] | None]] = [
    ("What activities are planned for family day?", ["face painting", "petting zoo", "funnel"]),
    ("Where was Iwan Roberts born?", ["bangor"]),
    ("In which year was Iwan Roberts born?", ["1968"]),
    ("What position did Iwan Roberts play?", ["forward"]),
    ("How many Stanley Cups have the Maple Leafs won?", ["13"]),
    ("Which club did Iwan Roberts join in 1997?", ["norwich"]),
    ("What is Galaxy Gaming's main business?", ["casino", "table game", "gaming"]),
    ("What is LayoutParser?", ["layout", "toolkit", "library"]),
    ("What was the population of Atlantis in 1200 BC?", None),
    ("Who designed the Sydney Opera House?", None),
]
QUESTIONS = [q for q, _ in EVAL]
NOT_FOUND_MARK = "could not find"


def quality(answers: list[str]) -> str:
    """Right answers (a fact present) and right refusals, in words."""
    right = refused = 0
    for (_, facts), answer in zip(EVAL, answers, strict=True):
        text = answer.lower()
        if facts is None:
            refused += NOT_FOUND_MARK in text
        else:
            right += any(f in text for f in facts) and NOT_FOUND_MARK not in text
    answerable = sum(1 for _, f in EVAL if f is not None)
    return f"{right}/{answerable} answered right, {refused}/{len(EVAL) - answerable} refused right"


def memory_bandwidth() -> float:
    """Bytes per second of a large array copy (read + write), best of 5."""
    src = np.ones(64 << 20, dtype=np.float64)  # 512 MB
    dst = np.empty_like(src)
    best = 0.0
    for _ in range(5):
        started = time.perf_counter()
        np.copyto(dst, src)
        best = max(best, 2 * src.nbytes / (time.perf_counter() - started))
    return best


def ingest(stack: Stack) -> None:
    """Load the corpus (without the 872-page handbook) into collection 'corpus'."""
    files = sorted(p for p in CORPUS.iterdir() if p.name not in SKIP)
    with stack.client() as api:
        api.post("/v1/collections", json={"name": "corpus"}).raise_for_status()
        handles = [("file", (p.name, p.read_bytes())) for p in files]
        items = api.post("/v1/documents", data={"collection": "corpus"}, files=handles).json()
        ids = {i["id"] for i in items}

        def done() -> bool:
            docs = api.get("/v1/documents", params={"collection": "corpus"}).json()
            return all(d["status"] in ("ready", "failed") for d in docs if d["id"] in ids)

        wait_until(done, 900, "corpus ingestion")


def api_ask(stack: Stack, question: str) -> dict[str, float]:
    """Quote time, TTFT, tokens and stream seconds of one streamed answer through /v1/chat."""
    body = {"messages": [{"role": "user", "content": question}], "collections": ["corpus"]}
    started = time.perf_counter()
    first = last = quoted = 0.0
    pieces = 0
    text = ""
    headers = {"Authorization": f"Bearer {stack.env['GPTU_ADMIN_TOKEN']}"}
    with httpx.stream(
        "POST", f"{stack.api_url}/v1/chat", json=body, headers=headers, timeout=600
    ) as answer:
        name = ""
        for line in answer.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
                quoted = quoted or (time.perf_counter() if name == "quote" else 0.0)
            elif line.startswith("data: ") and name == "token":
                now = time.perf_counter()
                first = first or now
                last = now
                pieces += 1
                text += json.loads(line[6:])["text"]
    ANSWERS.append(text)
    return {"ttft": first - started, "tokens": pieces, "stream": last - first,
            "quote": quoted - started}  # fmt: skip


ANSWERS: list[str] = []


def raw_ask(llm: object, messages: list[dict[str, str]], max_tokens: int) -> dict[str, float]:
    """The same measurements calling llama-cpp-python directly."""
    started = time.perf_counter()
    first = last = 0.0
    pieces = 0
    for chunk in llm.create_chat_completion(  # type: ignore[attr-defined]
        messages=messages, max_tokens=max_tokens, temperature=0.1, stream=True
    ):
        if chunk["choices"][0]["delta"].get("content"):
            now = time.perf_counter()
            first = first or now
            last = now
            pieces += 1
    return {"ttft": first - started, "tokens": pieces, "stream": last - first}


def rate(runs: list[dict[str, float]]) -> float:
    """Tokens per second while streaming, over all runs."""
    tokens = sum(max(r["tokens"] - 1, 0) for r in runs)
    return tokens / max(sum(r["stream"] for r in runs), 1e-9)


def main() -> None:
    """Run everything and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2-135m")
    args = parser.parse_args()
    go_offline()
    from llama_cpp import Llama

    from answer.llm import Gate, load_llm
    from answer.rag import Answerer
    from app.services import build_services
    from core.models import model_file, resolve
    from core.settings import Settings

    with tempfile.TemporaryDirectory(prefix="gptu-bench-answer-") as tmp:
        env = stack_env(Path(tmp), GPTU_MODEL=args.model)
        stack = start_stack(Path(tmp), env)
        try:
            ingest(stack)
            api_proc = psutil.Process(stack.processes[-1].proc.pid)  # type: ignore[union-attr]
            for worker in stack.workers:
                worker.stop()  # nothing else competes for the cores from here on
            api_runs = [api_ask(stack, q) for q in QUESTIONS]
            api_rss = api_proc.memory_info().rss / 1e6
            settings = Settings(
                data_dir=stack.data_dir, chroma_port=int(env["GPTU_CHROMA_PORT"]), model=args.model
            )
            services = build_services(settings, threads=1)
            llm_spec = resolve(args.model, settings.model_cache)
            path = model_file(llm_spec, settings.model_cache)
            plans = []
            answerer = Answerer(
                services.search(), load_llm(settings), Gate(), k=settings.chat_k,
                max_tokens=settings.max_answer_tokens, min_similarity=settings.min_similarity,
                context_tokens=settings.context_tokens,  # the API's own prompt, for a fair ratio
            )  # fmt: skip
            for q in QUESTIONS:
                plans.append(answerer.plan([{"role": "user", "content": q}], ["corpus"]))
            del answerer
        finally:
            stack.stop()
    threads = psutil.cpu_count() or 1
    raw = Llama(model_path=str(path), n_ctx=min(4096, llm_spec.context), n_threads=threads,
                n_threads_batch=threads, verbose=False)  # fmt: skip
    grounded = [(p, a) for p, a in zip(plans, api_runs, strict=True) if p.grounded]
    raw_runs = [raw_ask(raw, p.messages, settings.max_answer_tokens) for p, _ in grounded]
    raw.reset()
    second = grounded[1][0].messages if len(grounded) > 1 else grounded[0][0].messages
    raw_ask(raw, grounded[0][0].messages, 1)
    cached = raw_ask(raw, second, 1)["ttft"]  # the system prompt's tokens are reused
    raw.reset()
    cold = raw_ask(raw, second, 1)["ttft"]
    bandwidth = memory_bandwidth()
    size = path.stat().st_size
    limit = bandwidth / size
    ttfts = sorted(r["ttft"] * 1000 for r in api_runs)
    ours = [a for _, a in grounded]
    api_rate, raw_rate = rate(ours), rate(raw_runs)
    api_ttft = statistics.median(a["ttft"] for a in ours)
    raw_ttft = statistics.median(r["ttft"] for r in raw_runs)
    p95 = ttfts[max(0, int(len(ttfts) * 0.95) - 1)]
    print(f"model {args.model} ({size / 1e6:.0f} MB); {len(QUESTIONS)} questions, ", end="")
    print(f"{len(grounded)} answered by the model, {len(QUESTIONS) - len(grounded)} 'not found'")
    print(f"stream rate: API {api_rate:.1f} tok/s, raw {raw_rate:.1f} tok/s, ", end="")
    print(f"ratio {api_rate / raw_rate:.2f}x (target >= 0.95)")
    print(
        f"TTFT median: API {api_ttft * 1000:.0f} ms, raw prompt eval {raw_ttft * 1000:.0f} ms, ",
        end="",
    )
    print(f"ratio {api_ttft / raw_ttft:.2f}x (target <= 1.2)")
    print(f"TTFT via API, default top-k: p50 {statistics.median(ttfts):.0f} ms, p95 {p95:.0f} ms")
    quotes = sorted(r["quote"] * 1000 for r in api_runs)
    q95 = quotes[max(0, int(len(quotes) * 0.95) - 1)]
    print(f"quote event via API: p50 {statistics.median(quotes):.0f} ms, p95 {q95:.0f} ms ", end="")
    print("(target p50 <= 300)")
    print(f"system prompt cache: cold {cold * 1000:.0f} ms, cached {cached * 1000:.0f} ms ", end="")
    print(f"(saves {(cold - cached) * 1000:.0f} ms)")
    print(f"memory bandwidth {bandwidth / 1e9:.1f} GB/s -> limit {limit:.0f} tok/s; ", end="")
    print(f"raw reaches {raw_rate / limit:.0%} of it, API {api_rate / limit:.0%}")
    print(f"quality on {len(EVAL)} questions: {quality(ANSWERS)}")
    for (question, _), answer in zip(EVAL, ANSWERS, strict=True):
        print(f"  Q: {question}\n  A: {' '.join(answer.split())[:160]}")
    print(f"API RSS with the model loaded: {api_rss:.0f} MB (target < 1024)")


if __name__ == "__main__":
    main()
