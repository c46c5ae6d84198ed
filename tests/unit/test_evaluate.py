"""Eval files: malformed lines are reported and skipped; metrics, floors and deltas."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.evaluate import Outcome, Question, deltas, failures, load_questions, metrics_of, rank_of


def test_malformed_lines_are_reported_with_their_number_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text(
        '{"question": "ok?", "expected_sources": ["a.pdf"], "expected_answer": "x"}\n'
        "{not json\n"
        "\n"
        '["a list"]\n'
        '{"question": "  "}\n'
        '{"question": "q", "expected_sources": "a.pdf"}\n'
        '{"question": "q", "answerable": "yes"}\n'
        '{"question": "fine", "answerable": false}\n'
    )
    questions, skipped = load_questions(path)
    assert [q.line for q in questions] == [1, 8]
    assert questions[0].answerable is True and questions[1].answerable is False
    assert [s["line"] for s in skipped] == [2, 4, 5, 6, 7]
    assert "not JSON" in skipped[0]["error"] and "answerable" in skipped[-1]["error"]


def test_rank_counts_distinct_files() -> None:
    results = [{"filename": f} for f in ("a", "a", "b", "c")]
    assert rank_of(results, ["c"]) == 3 and rank_of(results, ["z"]) is None


def outcome(rank: int | None, abstained: bool, correct: bool | None, seconds: float) -> Outcome:
    """An outcome with one supported citation when correct."""
    return Outcome(0, "q", rank, "a", abstained, correct, 1.0 if correct else 0.0,
                   1, 1 if correct else 0, seconds, None)  # fmt: skip


def test_metrics_of_a_small_hand_checked_run() -> None:
    answerable = [Question(n, "q", ["a"], "x", True) for n in (1, 2, 3)]
    questions = [*answerable, Question(4, "q", answerable=False)]
    outcomes = [outcome(1, False, True, 1.0), outcome(3, False, False, 2.0),
                outcome(None, True, False, 3.0), outcome(None, True, None, 4.0)]  # fmt: skip
    m = metrics_of(questions, outcomes)
    assert m["recall@1"] == pytest.approx(1 / 3) and m["recall@5"] == pytest.approx(2 / 3)
    assert m["mrr"] == pytest.approx((1 + 1 / 3) / 3)
    assert m["answer_correct"] == pytest.approx(1 / 3)
    assert m["citation_precision"] == pytest.approx(1 / 4)
    assert m["abstention"] == 1.0 and m["false_abstention"] == pytest.approx(1 / 3)
    assert m["latency_p50_s"] == 2.5


def test_floors_and_deltas() -> None:
    report = {"metrics": {"recall@5": 0.8, "abstention": 0.5, "false_abstention": 0.2}}
    assert failures(report, ["recall@5=0.75"]) == []
    assert failures(report, ["abstention=0.9"]) == ["abstention = 0.5 misses the limit 0.9"]
    assert failures(report, ["false_abstention=0.1"])  # lower is better there
    with pytest.raises(ValueError, match="metric=value"):
        failures(report, ["nonsense"])
    assert deltas(report, {"metrics": {"recall@5": 0.7}}) == {
        "recall@5": 0.1, "abstention": None, "false_abstention": None,
    }  # fmt: skip
