"""`gptu eval` with the packaged model on samples of the company question set and of the set
written by others (CI gates)."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.conftest import GPTU, ROOT, Stack, upload, wait_done

pytestmark = pytest.mark.slow

COMPANY = ROOT / "tests" / "eval" / "company.jsonl"
DOCUMENTS = ROOT / "tests" / "eval" / "company"
# Written by others: two organisations' rules with H2O.ai's questions (tests/eval/SOURCES.md);
# and our near-misses about them.
HANDBOOKS = ROOT / "tests" / "eval" / "handbooks.jsonl"
NEAR_MISSES = ROOT / "tests" / "eval" / "handbooks-near-miss.jsonl"
EVERY = 10  # the gate asks every 10th question of the company set (33, 7 of them near-misses)
# Floors a margin below what SmolLM2-135M measures on the gate's questions (README, "Eval"):
# recall@5 1.0, MRR 0.98, answer_correct 0.46, quote_correct 0.73, abstention 0.29, false
# abstention 0.08. bench/eval.py measures the whole set.
FLOORS = (
    "recall@5=0.9",
    "mrr=0.8",
    "abstention=0.1",
    "false_abstention=0.15",
    "answer_correct=0.3",
    "quote_correct=0.6",
)


HANDBOOK_EVERY = 15  # every 15th of H2O.ai's questions (23) and all 12 of our near-misses
# Floors a margin below what SmolLM2-135M measures (README, "Eval"); a ceiling for false abstention.
HANDBOOK_FLOORS = (  # every 2nd question measured facts 0.92 / 0.62 / 0.64, near-miss 0.5
    "facts_sources=0.7",
    "facts_quote=0.45",
    "facts_seen=0.5",
    "near_miss_abstention=0.35",
    "false_abstention=0.15",
)


def gate_questions(folder: Path) -> Path:
    """Every EVERY-th line of the company set, as a question file in folder."""
    path = folder / "company-gate.jsonl"
    path.write_text("\n".join(COMPANY.read_text().splitlines()[::EVERY]) + "\n")
    return path


def ingested(stack: Stack, prefix: str, documents: Path) -> str:
    """A new collection holding every file of documents, all ready; its name."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    with stack.client() as admin:
        admin.post("/v1/collections", json={"name": name}).raise_for_status()
        files = [(f.name, f.read_bytes()) for f in sorted(documents.iterdir())]
        items = upload(admin, name, files)
        docs = wait_done(admin, [i["id"] for i in items], timeout=600)
    assert all(d["status"] == "ready" for d in docs.values()), docs
    return name


@pytest.fixture(scope="module")
def eval_collection(stack: Stack) -> str:
    """The company set's 154 documents, ingested."""
    return ingested(stack, "eval", DOCUMENTS)


def gptu_eval(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `gptu eval …` as the admin."""
    return subprocess.run([*GPTU, "eval", *args], env=stack.env, cwd=ROOT, capture_output=True,
                          text=True, timeout=1800)  # fmt: skip


def test_question_set_meets_its_floors(stack: Stack, eval_collection: str, tmp_path: Path) -> None:
    floors = [x for f in FLOORS for x in ("--fail-under", f)]
    questions = gate_questions(tmp_path)
    done = gptu_eval(stack, str(questions), "--collection", eval_collection, "--json", *floors)
    report = json.loads(done.stdout)
    (ROOT / "bench" / "out").mkdir(exist_ok=True)
    (ROOT / "bench" / "out" / "eval-report.json").write_text(done.stdout)
    assert done.returncode == 0, (done.stderr, report["metrics"])
    assert report["questions"] >= 30 and report["unanswerable"] >= 7 and not report["skipped"]
    assert all(o["trace_id"] for o in report["outcomes"])


def test_malformed_lines_compare_and_failing_floors(
    stack: Stack, eval_collection: str, tmp_path: Path
) -> None:
    good = COMPANY.read_text().splitlines()
    path = tmp_path / "small.jsonl"
    path.write_text("\n".join([good[0], "{broken", good[-1], '{"question": 5}']) + "\n")
    first = gptu_eval(stack, str(path), "--collection", eval_collection, "--json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["questions"] == 2
    assert [s["line"] for s in report["skipped"]] == [2, 4]
    earlier = tmp_path / "earlier.json"
    earlier.write_text(first.stdout)
    second = gptu_eval(stack, str(path), "--collection", eval_collection, "--compare",
                       str(earlier), "--fail-under", "answer_correct=1.01")  # fmt: skip
    assert second.returncode == 1
    assert "FAIL: answer_correct" in second.stderr and "Δ vs compare" in second.stdout
    assert "line 2 skipped: not JSON" in second.stdout


@pytest.fixture(scope="module")
def handbooks_collection(stack: Stack) -> str:
    """The two organisations' documents of the set written by others, ingested."""
    return ingested(stack, "handbooks", HANDBOOKS.with_suffix(""))


def test_the_set_written_by_others_meets_its_floors_along_the_loss_chain(
    stack: Stack, handbooks_collection: str, tmp_path: Path
) -> None:
    asked = HANDBOOKS.read_text().splitlines()[::HANDBOOK_EVERY]
    asked += NEAR_MISSES.read_text().splitlines()
    questions = tmp_path / "handbooks-gate.jsonl"
    questions.write_text("\n".join(asked) + "\n")
    floors = [x for f in HANDBOOK_FLOORS for x in ("--fail-under", f)]
    done = gptu_eval(stack, str(questions), "--collection", handbooks_collection, "--json",
                     *floors)  # fmt: skip
    report = json.loads(done.stdout)
    (ROOT / "bench" / "out" / "eval-handbooks-report.json").write_text(done.stdout)
    assert done.returncode == 0, (done.stderr, report["metrics"])
    assert report["answerable"] >= 20 and report["unanswerable"] == 12
    metrics = report["metrics"]
    # the quote is whole units, at most 600 characters, that hold most of the top source's facts
    assert metrics["quote_chars_p50"] <= 600
    assert all(len(o["quote"]) <= 600 for o in report["outcomes"])
    assert metrics["facts_read"] is not None and metrics["facts_top_source"] is not None
