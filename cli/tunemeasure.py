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
    """Eval lines (question, expected_answer, answerable); ValueError naming the first line
    that is not one."""
    asked = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            question = data["question"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path.name} line {number} is not an eval question "
                             '({"question": ..., "expected_answer": ...})') from exc  # fmt: skip
        if not isinstance(question, str) or not question.strip():
            raise ValueError(f"{path.name} line {number} has no question")
        answerable = data.get("answerable", True)
        asked.append(Asked(question, data.get("expected_answer"), answerable))
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


def answer_each(
    answerer: Answerer,
    questions: list[Asked],
    collection: str,
    readable: Collection[str] | None = None,
    progress: Callable[[], None] | None = None,
) -> list[Answered]:
    """What the answerer's model did with each question (progress: called after each)."""
    done = []
    for asked in questions:
        done.append(answer(answerer, asked, collection, readable))
        if progress:
            progress()
    return done


def measure(
    answerer: Answerer,
    questions: list[Asked],
    collection: str,
    readable: Collection[str] | None = None,
    progress: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """The scores of the answerer's model on the questions (progress: called after each)."""
    return scores_of(questions, answer_each(answerer, questions, collection, readable, progress))


def scores_of(questions: list[Asked], answered: list[Answered]) -> dict[str, Any]:
    """The eval's scores of one model's answers to the questions."""
    done = list(zip(questions, answered, strict=True))
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


def paired(
    questions: list[Asked], base: list[Answered], tuned: list[Answered]
) -> dict[str, dict[str, float | int | None]]:
    """Tuned minus base, question by question, with the noise of that difference.

    For each score, over the questions where both models have a value: `delta` the mean
    difference, `noise` twice its standard error (a delta beyond it is unlikely to be chance,
    about 95 %), `questions` how many counted. Answers the models give alike cancel out, so
    this is tighter than comparing two means.
    """
    rows: dict[str, list[tuple[float, float]]] = {}
    for asked, b, t in zip(questions, base, tuned, strict=True):
        values = {
            "answer_correct": (b.correct, t.correct),
            "facts_answer": (b.facts_answer, t.facts_answer),
            "facts_seen": (b.facts_seen, t.facts_seen),
        }
        if asked.answerable is False:
            values["abstention"] = (b.refused, t.refused)
        elif asked.answerable:
            values["false_abstention"] = (b.refused, t.refused)
        for key, (x, y) in values.items():
            if x is not None and y is not None:
                rows.setdefault(key, []).append((float(x), float(y)))
    return {key: difference(pairs) for key, pairs in rows.items()}


def difference(pairs: list[tuple[float, float]]) -> dict[str, float | int | None]:
    """The mean of y - x over the pairs, and twice its standard error."""
    deltas = [y - x for x, y in pairs]
    n = len(deltas)
    average = sum(deltas) / n
    spread = sum((d - average) ** 2 for d in deltas) / (n - 1) if n > 1 else None
    noise = 2 * (spread / n) ** 0.5 if spread is not None else None
    return {"delta": round(average, 3), "noise": rounded(noise), "questions": n}


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
