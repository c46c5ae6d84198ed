"""The tune's comparison on questions written by others: paired differences with their noise,
and question files read strictly (a bad line is named before a run starts, not at its end)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.tunemeasure import Answered, Asked, paired, read_questions, scores_of


def answered(refused: bool, correct: bool | None, facts: float | None = None) -> Answered:
    """One answer as `answer` records it (no timings)."""
    return Answered(refused, correct, None, None, facts, facts)


def test_the_difference_is_taken_question_by_question_with_twice_its_standard_error() -> None:
    questions = [Asked(f"q{i}?", "The answer is 5.", True) for i in range(4)]
    questions.append(Asked("near miss?", None, False))
    base = [answered(False, False, 0.0), answered(False, True, 1.0), answered(False, False, 0.0),
            answered(True, False, 0.0), answered(False, None)]  # fmt: skip
    tuned = [answered(False, True, 1.0), answered(False, True, 1.0), answered(False, False, 0.0),
             answered(False, True, 1.0), answered(True, None)]  # fmt: skip
    diff = paired(questions, base, tuned)
    # answer_correct: differences 1, 0, 0, 1 → mean 0.5, sample sd 0.577, noise 2 * 0.577 / 2
    assert diff["answer_correct"] == {"delta": 0.5, "noise": 0.577, "questions": 4}
    assert diff["false_abstention"] == {"delta": -0.25, "noise": 0.5, "questions": 4}
    assert diff["abstention"] == {"delta": 1.0, "noise": None, "questions": 1}  # one: no spread
    assert "facts_answer" in diff and diff["facts_answer"]["delta"] == 0.5
    scores = scores_of(questions, tuned)
    assert scores["answer_correct"] == 0.75 and scores["abstention"] == 1.0
    assert scores["false_abstention"] == 0.0 and scores["questions"] == 5


def test_a_question_file_is_read_strictly(tmp_path: Path) -> None:
    good = {"question": "Who signs?", "expected_answer": "The head signs.", "answerable": True}
    path = tmp_path / "others.jsonl"
    path.write_text(json.dumps(good) + "\n\n" + json.dumps({"answer": "x"}) + "\n")
    with pytest.raises(ValueError, match=r"others\.jsonl line 3 is not an eval question"):
        read_questions(path)
    path.write_text(json.dumps(good) + '\n{"question": "  "}\n')
    with pytest.raises(ValueError, match="line 2 has no question"):
        read_questions(path)
    path.write_text(json.dumps(good) + '\n{"question": "Where?", "answerable": false}\n')
    assert [q.answerable for q in read_questions(path)] == [True, False]
