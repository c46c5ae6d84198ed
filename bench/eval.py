"""The eval question set against one model: `gptu eval` on a fresh stack, report printed.

Ingests the question set's corpus files plus the same large distractors as the test gate,
then runs `gptu eval tests/eval/corpus.jsonl` and prints its table (and writes the JSON report
to bench/out/eval-<model>.json, to compare runs with `gptu eval … --compare`).

Run: `.venv/bin/python bench/eval.py [--model qwen2.5-coder-0.5b] [--max-tokens 256]`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cli.evals import show_report
from cli.localstack import GPTU, ROOT, stack_env, start_stack, wait_until
from core.offline import go_offline
from tests.integration.test_eval import CORPUS, QUESTIONS, sources  # the gate's own file set


def main() -> None:
    """Start, ingest, evaluate, print."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--max-tokens", default="256")
    args = parser.parse_args()
    go_offline()
    files = sources()
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        env = stack_env(Path(tmp), GPTU_MODEL=args.model, GPTU_MAX_ANSWER_TOKENS=args.max_tokens)
        stack = start_stack(Path(tmp), env)
        try:
            with stack.client() as admin:
                admin.post("/v1/collections", json={"name": "eval"}).raise_for_status()
                handles = [("file", (f, (CORPUS / f).read_bytes())) for f in files]
                admin.post("/v1/documents", data={"collection": "eval"}, files=handles)

                def ingested() -> bool:
                    docs = admin.get("/v1/documents", params={"collection": "eval"}).json()
                    return all(d["status"] in ("ready", "failed") for d in docs)

                wait_until(ingested, 900, "ingestion")
            report = out / f"eval-{Path(args.model).stem}.json"
            command = [*GPTU, "eval", str(QUESTIONS), "--collection", "eval", "--json"]
            done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
            report.write_text(done.stdout)
            print(f"model {args.model}, answers up to {args.max_tokens} tokens")
            show_report(json.loads(done.stdout), None)
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
