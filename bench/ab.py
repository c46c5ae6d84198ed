"""A/B simulation: two answer variants over the eval question set, rated automatically.

Starts the stack with a variants file (control: 4 passages, equal fusion; `k2-lexical-light`:
2 passages, lexical weight 0.5), ingests the question set's corpus files, asks each question
as one of 24 users (so the experiment splits them), rates every answer with the eval's scoring
(👍 when an answerable question gets its expected fact or an unanswerable one is refused, else
👎), then prints `gptu ab report`.

Run: `.venv/bin/python bench/ab.py`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cli.localstack import GPTU, ROOT, Stack, stack_env, start_stack, wait_until
from core.offline import go_offline
from core.scoring import abstained, is_correct

CORPUS = ROOT.parent / "shared" / "corpus"
QUESTIONS = ROOT / "tests" / "eval" / "corpus.jsonl"
USERS = 24
VARIANTS = """
name = "bench-k2"

[[variant]]
name = "control"

[[variant]]
name = "k2-lexical-light"
chat_k = 2
fusion = [1.0, 0.5]
"""


def setup(stack: Stack, lines: list[dict]) -> list[str]:
    """Ingest the files the questions need; create the users; their keys."""
    files = sorted({f for line in lines for f in line.get("expected_sources", [])})
    keys = []
    with stack.client() as admin:
        admin.post("/v1/collections", json={"name": "eval", "readers": ["everyone"]})
        handles = [("file", (f, (CORPUS / f).read_bytes())) for f in files]
        items = admin.post("/v1/documents", data={"collection": "eval"}, files=handles).json()

        def ingested() -> bool:
            docs = admin.get("/v1/documents", params={"collection": "eval"}).json()
            return all(d["status"] in ("ready", "failed") for d in docs) and len(docs) == len(items)

        wait_until(ingested, 600, "ingestion")
        for i in range(USERS):
            admin.post("/v1/users", json={"name": f"user{i:02}"}).raise_for_status()
            keys.append(admin.post(f"/v1/users/user{i:02}/keys").json()["key"])
    return keys


def ask_and_rate(stack: Stack, key: str, line: dict) -> None:
    """One question, rated by the eval's rules."""
    body = {"messages": [{"role": "user", "content": line["question"]}], "stream": False}
    with stack.client(key) as api:
        reply = api.post("/v1/chat", json=body, timeout=600).json()
        if line.get("answerable") is False:
            good = abstained(reply["answer"])
        else:
            good = not abstained(reply["answer"]) and is_correct(
                line["expected_answer"], reply["answer"]
            )
        rating = {"trace_id": reply["trace_id"], "rating": 1 if good else -1}
        api.post("/v1/feedback", json=rating).raise_for_status()


def main() -> None:
    """Run the simulation and print the report."""
    go_offline()
    lines = [json.loads(x) for x in QUESTIONS.read_text().splitlines()]
    with tempfile.TemporaryDirectory() as tmp:
        variants = Path(tmp) / "variants.toml"
        variants.write_text(VARIANTS)
        env = stack_env(Path(tmp), GPTU_VARIANTS_FILE=str(variants))
        stack = start_stack(Path(tmp), env, workers=1)
        try:
            keys = setup(stack, lines)
            for i, line in enumerate(lines):
                ask_and_rate(stack, keys[i % USERS], line)
            report = subprocess.run(
                [*GPTU, "ab", "report", "--min-ratings", "20"], env=env, cwd=ROOT,
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            print(report.stdout)
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
