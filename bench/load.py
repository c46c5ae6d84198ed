"""Load benchmark: N people asking at once (chat, streamed chat, the OpenAI route, search).

Prints per round: answered (200), 503s (each with Retry-After), other statuses and transport
errors, latency p50/p95 of the answered, time to first token p50/p95 of the streamed ones, and
the API's RSS before and after. With `--import-files N`, each round runs while N small files
are being uploaded and ingested, and search p50 is measured idle and during that import (ratio).

`--chat-during-import N` instead measures the API's CPU per uploaded small file, then the
first token of 20 streamed chats idle and while N small files are uploaded and ingested.

Run: `.venv/bin/python bench/load.py [--askers 20 50] [--queue-timeout 30] [--import-files 300]`
or `.venv/bin/python bench/load.py --chat-during-import 3000 [--chat-priority-wait 0]`
(a fresh local stack with the default model; a few documents of ../shared/corpus first).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cli.localstack import ROOT, stack_env, start_stack, wait_until
from core.offline import go_offline
from core.scoring import percentile

CORPUS = ROOT.parent / "shared" / "corpus"
FILES = ["family-day.eml", "norwich-city.txt", "stanley-cups-with-emoji.tsv"]
QUESTIONS = [
    "What activities are planned for family day?",
    "Where was Iwan Roberts born?",
    "How many Stanley Cups have the Maple Leafs won?",
    "Which club did Iwan Roberts join in 1997?",
]
KINDS = ("chat", "stream", "openai", "search")


@dataclass
class Result:
    """One request: what came back and how fast."""

    kind: str
    status: int = 0
    seconds: float = 0.0
    first_token_s: float | None = None
    retry_after: str | None = None
    code: str = ""
    error: str = ""


def ask_once(url: str, key: str, collection: str, kind: str, question: str) -> Result:
    """One request of the given kind; transport errors are kept, not raised."""
    result = Result(kind)
    headers = {"Authorization": f"Bearer {key}"}
    messages = [{"role": "user", "content": question}]
    started = time.monotonic()
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=120) as api:
            if kind == "stream":
                body = {"messages": messages, "collections": [collection], "stream": True}
                with api.stream("POST", "/v1/chat", json=body) as answer:
                    result.status = answer.status_code
                    result.retry_after = answer.headers.get("retry-after")
                    if answer.status_code != 200:
                        answer.read()
                        result.code = answer.json()["error"]["code"]
                    for line in answer.iter_lines():
                        if line.startswith("event: token") and result.first_token_s is None:
                            result.first_token_s = time.monotonic() - started
                        if line.startswith("event: error"):
                            result.code = "stream_error"
            else:
                if kind == "chat":
                    path = "/v1/chat"
                    body = {"messages": messages, "collections": [collection], "stream": False}
                elif kind == "openai":
                    path = "/v1/chat/completions"
                    body = {"model": "gptu", "messages": messages, "collections": [collection]}
                else:
                    path, body = "/v1/search", {"query": question, "collections": [collection]}
                answer = api.post(path, json=body)
                result.status = answer.status_code
                result.retry_after = answer.headers.get("retry-after")
                if answer.status_code != 200:
                    result.code = answer.json()["error"]["code"]
    except httpx.HTTPError as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    result.seconds = time.monotonic() - started
    return result


def crowd(
    url: str, key: str, collection: str, askers: int, kinds: tuple[str, ...] = KINDS
) -> list[Result]:
    """`askers` requests started at the same moment, kinds and questions in turn."""
    results: list[Result] = [Result(kinds[i % len(kinds)]) for i in range(askers)]
    start = threading.Barrier(askers)

    def one(i: int) -> None:
        start.wait()
        question = QUESTIONS[i % len(QUESTIONS)]
        results[i] = ask_once(url, key, collection, results[i].kind, question)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(askers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def seconds(values: list[float]) -> str:
    """'p50 / p95' of the values (0 when there are none)."""
    return " / ".join(f"{percentile(values, q) or 0.0:.2f}" for q in (50, 95))


def summary(results: list[Result]) -> dict[str, object]:
    """Counts and latencies of one round."""
    answered = [r for r in results if r.status == 200 and not r.error]
    first = [r.first_token_s for r in answered if r.first_token_s is not None]
    return {
        "answered": len(answered),
        "503": sum(r.status == 503 for r in results),
        "503 without Retry-After": sum(r.status == 503 and not r.retry_after for r in results),
        "other status": sorted({r.status for r in results} - {200, 503, 0}),
        "transport errors": sum(bool(r.error) for r in results),
        "codes": dict(Counter(r.code for r in results if r.code)),
        "latency p50/p95 s": seconds([r.seconds for r in answered]),
        "first token p50/p95 s": seconds(first),
    }


def search_p50(url: str, key: str, collection: str, n: int = 20) -> float:
    """Median seconds of n searches, one after another."""
    times = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as api:
        for i in range(n):
            body = {"query": QUESTIONS[i % len(QUESTIONS)], "collections": [collection]}
            started = time.monotonic()
            api.post("/v1/search", json=body).raise_for_status()
            times.append(time.monotonic() - started)
    return statistics.median(times)


def bulk_import(url: str, key: str, files: int, done: threading.Event) -> None:
    """Upload `files` one-paragraph text files in batches of 50 into collection `bulk`, then
    wait until all are ready or failed; set done."""
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=300) as api:
        for batch in memo_batches(files, "memo"):
            api.post("/v1/documents", data={"collection": "bulk"}, files=batch)

        def finished() -> bool:  # counts only, as `gptu ingest --wait` asks
            counts = api.get("/v1/documents/summary", params={"collection": "bulk"}).json()
            return counts["queued"] + counts["processing"] == 0

        wait_until(finished, 3600, "bulk import finished", every=1)
    done.set()


def memo_batches(files: int, prefix: str) -> list[list[tuple[str, tuple[str, bytes]]]]:
    """`files` one-paragraph text files in upload requests of 50, as `bulk_import` sends them."""
    return [
        [("file", (f"{prefix}-{i}.txt", f"Memo {i}: aisle {i % 40} restocks on day {i % 7}; "
                   f"contact desk {1000 + i}.".encode()))
         for i in range(start, min(files, start + 50))]
        for start in range(0, files, 50)
    ]  # fmt: skip


def upload_cpu_ms(url: str, key: str, api_process: psutil.Process, files: int) -> float:
    """The API process's CPU (user + system) per small file uploaded, nothing else running:
    `files` files in requests of 50 into collection `calibrate`."""
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=300) as api:
        api.post("/v1/collections", json={"name": "calibrate"}).raise_for_status()
        batches = memo_batches(files, "calibrate")
        before = sum(api_process.cpu_times()[:2])
        for batch in batches:
            api.post("/v1/documents", data={"collection": "calibrate"}, files=batch)
        spent = sum(api_process.cpu_times()[:2]) - before
    return spent * 1000 / files


def streamed_round(url: str, key: str, askers: int) -> tuple[float, float, int, int]:
    """`askers` streamed chats at once: first token p50 and p95 (s), how many answered, and
    how many were refused (503: the model's queue was full or waited too long)."""
    results = crowd(url, key, "load", askers, kinds=("stream",))
    first = [r.first_token_s for r in results if r.status == 200 and r.first_token_s is not None]
    refused = sum(r.status == 503 or r.code == "stream_error" for r in results)
    return percentile(first, 50) or 0.0, percentile(first, 95) or 0.0, len(first), refused


def chat_during_import(url: str, key: str, api_process: psutil.Process, files: int) -> None:
    """Issue 26 item 5 in one run: the API's CPU per uploaded file, then the streamed chat's
    first token with 20 askers idle and while `files` small files are uploaded and ingested."""
    per_file = upload_cpu_ms(url, key, api_process, 300)
    print(f"API CPU per uploaded small file: {per_file:.1f} ms (300 files, requests of 50)")
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as api:

        def settled() -> bool:  # the idle round runs with the workers idle
            counts = api.get("/v1/documents/summary", params={"collection": "calibrate"}).json()
            return counts["queued"] + counts["processing"] == 0

        wait_until(settled, 600, "calibration files ingested", every=1)
    streamed_round(url, key, 2)  # warm-up: the model's first prompts are slower
    idle = streamed_round(url, key, 20)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as api:
        api.post("/v1/collections", json={"name": "bulk"}).raise_for_status()
    done = threading.Event()
    started = time.monotonic()
    threading.Thread(target=bulk_import, args=(url, key, files, done), daemon=True).start()
    time.sleep(3)  # uploads arriving, workers busy
    busy = streamed_round(url, key, 20)
    print(f"first token, 20 streamed askers: idle p50 {idle[0]:.2f} s p95 {idle[1]:.2f} s "
          f"({idle[2]} answered, {idle[3]} refused); during the import of {files} files p50 "
          f"{busy[0]:.2f} s p95 {busy[1]:.2f} s ({busy[2]} answered, {busy[3]} refused): p50 "
          f"{busy[0] / idle[0]:.2f}x, p95 {busy[1] / idle[1]:.2f}x (target p50 <= 1.5x, "
          "every asker answered)")  # fmt: skip
    done.wait()
    took = time.monotonic() - started
    print(f"import of {files} files: {took:.0f} s, {files / took:.1f} documents/s")


def main() -> None:
    """Start a stack, ingest a few files, run the rounds, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--askers", type=int, nargs="+", default=[20, 50])
    parser.add_argument("--queue-timeout", default="30", help="GPTU_QUEUE_TIMEOUT of the API")
    parser.add_argument(
        "--import-files", type=int, default=0, help="small files imported meanwhile"
    )
    parser.add_argument(
        "--chat-during-import", type=int, default=0, metavar="FILES",
        help="only: API CPU per uploaded file, and 20 streamed askers' first token idle and "
        "while FILES small files are imported (issue 26 item 5; e.g. 3000)",
    )  # fmt: skip
    parser.add_argument("--worker-nice", type=int, default=10, help="GPTU_WORKER_NICE")
    parser.add_argument("--chat-priority-wait", default="60", help="GPTU_CHAT_PRIORITY_WAIT")
    args = parser.parse_args()
    go_offline()
    folder = Path(tempfile.mkdtemp(prefix="gptu-load-"))
    env = stack_env(folder, GPTU_QUEUE_TIMEOUT=args.queue_timeout,
                    GPTU_WORKER_NICE=str(args.worker_nice),
                    GPTU_CHAT_PRIORITY_WAIT=args.chat_priority_wait)  # fmt: skip
    stack = start_stack(folder, env)
    try:
        key = env["GPTU_ADMIN_TOKEN"]
        with stack.client() as api:
            api.post("/v1/collections", json={"name": "load"}).raise_for_status()
            files = [("file", (name, (CORPUS / name).read_bytes())) for name in FILES]
            ids = [d["id"] for d in api.post("/v1/documents", data={"collection": "load"},
                                             files=files).json()]  # fmt: skip

            def ready() -> bool:
                states = [api.get(f"/v1/documents/{i}").json()["status"] for i in ids]
                return all(s in ("ready", "failed") for s in states)

            wait_until(ready, 300, "documents ready")
        api_process = psutil.Process(stack.processes[-1].proc.pid)  # type: ignore[union-attr]
        print(f"model: default; GPTU_QUEUE_TIMEOUT={args.queue_timeout} s; "
              f"GPTU_WORKER_NICE={args.worker_nice}; "
              f"GPTU_CHAT_PRIORITY_WAIT={args.chat_priority_wait} s; 2 cores")  # fmt: skip
        if args.chat_during_import:
            chat_during_import(stack.api_url, key, api_process, args.chat_during_import)
            return
        importing = threading.Event()
        if args.import_files:
            with stack.client() as api:
                api.post("/v1/collections", json={"name": "bulk"}).raise_for_status()
            idle = search_p50(stack.api_url, key, "load")
            import_started = time.monotonic()
            threading.Thread(
                target=bulk_import, args=(stack.api_url, key, args.import_files, importing),
                daemon=True,
            ).start()  # fmt: skip
            time.sleep(5)  # the workers are busy now
            busy = search_p50(stack.api_url, key, "load")
            during = f"during the import of {args.import_files} files {busy * 1000:.0f} ms"
            print(f"search p50 idle {idle * 1000:.0f} ms, {during}: {busy / idle:.2f}x")
        for askers in args.askers:
            before = api_process.memory_info().rss
            started = time.monotonic()
            results = crowd(stack.api_url, key, "load", askers)
            wall = time.monotonic() - started
            after = api_process.memory_info().rss
            print(f"\n{askers} askers at once ({wall:.1f} s wall):")
            for name, value in summary(results).items():
                print(f"  {name:24} {value}")
            print(f"  {'API RSS MB':24} {before / 2**20:.0f} -> {after / 2**20:.0f}")
            if args.import_files:
                print(f"  {'import still running':24} {not importing.is_set()}")
        if args.import_files:
            importing.wait()
            took = time.monotonic() - import_started
            print(
                f"\nimport of {args.import_files} files: {took:.0f} s, "
                f"{args.import_files / took:.1f} documents/s (with the askers)"
            )
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
