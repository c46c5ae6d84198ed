"""A model measured in-process on held-out questions, the way the API answers them (plan →
generate → answer check), with the eval's scores: answer_correct, abstention, false
abstention, time to the first token and generation speed."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from answer.check import verified
from answer.rag import Answerer, checked
from core.scoring import abstained, echoes_prompt, is_correct, percentile


@dataclass
class Asked:
    """One held-out question as `gptu eval` reads it."""

    question: str
    expected_answer: str | None
    answerable: bool


def read_questions(path: Path) -> list[Asked]:
    """Eval lines (question, expected_answer, answerable)."""
    asked = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            data = json.loads(line)
            answerable = data.get("answerable", True)
            asked.append(Asked(data["question"], data.get("expected_answer"), answerable))
    return asked


@dataclass
class Answered:
    """What the model did with one question."""

    refused: bool
    correct: bool | None
    first_token_s: float | None
    tokens_per_s: float | None


def answer(answerer: Answerer, asked: Asked, collection: str) -> Answered:
    """Ask as the API does; time the first token and the generation."""
    plan = answerer.plan([{"role": "user", "content": asked.question}], [collection])
    started = time.perf_counter()
    first: float | None = None
    pieces = []
    for piece in answerer.generate(plan, threading.Event()):
        if first is None and piece.strip():
            first = time.perf_counter()
        pieces.append(piece)
    ended = time.perf_counter()
    draft = "".join(pieces)
    final, _ = checked(verified(draft, plan)[0], plan.passages)
    refused = abstained(final)
    correct = None
    if asked.expected_answer and asked.answerable:
        echo = echoes_prompt(final, [p.filename for p in plan.passages])
        correct = not refused and not echo and is_correct(asked.expected_answer, final)
    speed = None
    if answerer.needs_model(plan) and first is not None and ended > first:
        speed = (plan.llm.count_tokens(draft) - 1) / (ended - first)
    return Answered(refused, correct, (first - started) if first else None, speed)


def measure(answerer: Answerer, questions: list[Asked], collection: str) -> dict[str, Any]:
    """The scores of the answerer's model on the questions."""
    done = [(q, answer(answerer, q, collection)) for q in questions]
    graded = [a.correct for _, a in done if a.correct is not None]
    unanswerable = [a.refused for q, a in done if not q.answerable]
    answerable = [a.refused for q, a in done if q.answerable]
    first = [a.first_token_s for _, a in done if a.first_token_s is not None]
    speed = [a.tokens_per_s for _, a in done if a.tokens_per_s is not None]
    return {
        "questions": len(done),
        "answer_correct": share(graded),
        "abstention": share(unanswerable),
        "false_abstention": share(answerable),
        "first_token_p50_s": rounded(percentile(first, 50)),
        "tokens_per_s_p50": rounded(percentile(speed, 50), 1),
    }


def share(values: list[bool]) -> float | None:
    """The share of true values, rounded; None without values."""
    return round(sum(values) / len(values), 3) if values else None


def rounded(value: float | None, digits: int = 3) -> float | None:
    """value rounded, or None."""
    return None if value is None else round(value, digits)
