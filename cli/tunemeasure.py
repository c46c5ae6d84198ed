"""A model measured in-process on held-out questions, the way the API answers them (plan →
generate → answer check), with the eval's scores: answer_correct, abstention, false
abstention, the facts of the expected answer in the answer and in what a person sees (quote +
answer), time to the first token and generation speed."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from answer.check import verified
from answer.llm import Message
from answer.rag import Answerer, checked
from core.scoring import abstained, echoes_prompt, facts_recall, is_correct, percentile


@dataclass
class Asked:
    """One held-out question as `gptu eval` reads it."""

    question: str
    expected_answer: str | None
    answerable: bool | None  # None: not said (counted in neither abstention figure)


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
    facts_answer: float | None = None  # the share of the expected answer's facts it states
    facts_seen: float | None = None  # … that the quote and the answer together state


def answer(
    answerer: Answerer, asked: Asked, collection: str, readable: Collection[str] | None = None
) -> Answered:
    """Ask as the API does (as a caller who may read `readable`: it decides which models they
    may use); time the first token and the generation."""
    history: list[Message] = [{"role": "user", "content": asked.question}]
    plan = answerer.plan(history, [collection], readable=readable)
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
    correct = facts_answer = facts_seen = None
    if asked.expected_answer and asked.answerable:
        echo = echoes_prompt(final, [p.filename for p in plan.passages])
        correct = not refused and not echo and is_correct(asked.expected_answer, final)
        said = "" if refused or echo else final  # as `gptu eval` counts it (cli/evaluate.py)
        quote = plan.quote[0].text if plan.quote else ""
        facts_answer = facts_recall(asked.expected_answer, said)
        facts_seen = facts_recall(asked.expected_answer, f"{quote} {said}")
    speed = None
    if answerer.needs_model(plan) and first is not None and ended > first:
        speed = (plan.llm.count_tokens(draft) - 1) / (ended - first)
    return Answered(refused, correct, (first - started) if first else None, speed,
                    facts_answer, facts_seen)  # fmt: skip


def measure(
    answerer: Answerer,
    questions: list[Asked],
    collection: str,
    readable: Collection[str] | None = None,
    progress: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """The scores of the answerer's model on the questions (progress: called after each)."""
    done = []
    for asked in questions:
        done.append((asked, answer(answerer, asked, collection, readable)))
        if progress:
            progress()
    graded = [a.correct for _, a in done if a.correct is not None]
    unanswerable = [a.refused for q, a in done if q.answerable is False]
    answerable = [a.refused for q, a in done if q.answerable]
    first = [a.first_token_s for _, a in done if a.first_token_s is not None]
    speed = [a.tokens_per_s for _, a in done if a.tokens_per_s is not None]
    return {
        "questions": len(done),
        "answer_correct": share(graded),
        "abstention": share(unanswerable),
        "false_abstention": share(answerable),
        "facts_answer": mean([a.facts_answer for _, a in done]),
        "facts_seen": mean([a.facts_seen for _, a in done]),
        "first_token_p50_s": rounded(percentile(first, 50)),
        "tokens_per_s_p50": rounded(percentile(speed, 50), 1),
    }


def share(values: list[bool]) -> float | None:
    """The share of true values, rounded; None without values."""
    return round(sum(values) / len(values), 3) if values else None


def mean(values: list[float | None]) -> float | None:
    """The mean of the values that are not None, rounded; None without any."""
    present = [v for v in values if v is not None]
    return round(sum(present) / len(present), 3) if present else None


def rounded(value: float | None, digits: int = 3) -> float | None:
    """value rounded, or None."""
    return None if value is None else round(value, digits)
