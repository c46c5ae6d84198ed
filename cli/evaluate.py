"""`gptu eval`: a question set through the running API, scored for retrieval and answers."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from core.scoring import abstained, echoes_prompt, facts_recall, is_correct, overlap, percentile

QUALITY = ("recall@1", "recall@5", "recall@10", "mrr", "answer_correct", "answer_overlap",
           "quote_correct", "seen_correct", "citation_precision", "abstention",
           "false_abstention", "near_miss_abstention", *(f"facts_{s}" for s in (
               "sources", "top_source", "quote", "read", "answer", "seen")))  # fmt: skip
# The loss chain: the share of the expected answer's facts (numbers, names) still there at each
# stage, from the passages listed to what a person sees (quote + answer).
STAGES = ("sources", "top_source", "quote", "read", "answer", "seen")
LOWER_IS_BETTER = {"false_abstention", "latency_p50_s", "latency_p95_s"}


@dataclass
class Question:
    """One line of an eval file."""

    line: int
    question: str
    expected_sources: list[str] = field(default_factory=list)
    expected_answer: str | None = None
    answerable: bool | None = None
    kind: str | None = None  # e.g. "near-miss": an unanswerable question close to the documents


@dataclass
class Outcome:
    """What happened to one question."""

    line: int
    question: str
    rank: int | None
    answer: str
    abstained: bool
    correct: bool | None
    overlap: float | None
    cited: int
    cited_supported: int
    seconds: float
    trace_id: str | None
    quote: str = ""
    quote_correct: bool | None = None
    seen_correct: bool | None = None
    facts: dict[str, float | None] = field(default_factory=dict)
    quote_chars: int = 0


def parse_line(number: int, raw: str) -> Question:
    """A question from one JSON line; ValueError says what is wrong."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    question = data.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ValueError("'question' must be a non-empty string")
    sources = data.get("expected_sources", [])
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise ValueError("'expected_sources' must be a list of file names")
    answer = data.get("expected_answer")
    if answer is not None and not isinstance(answer, str):
        raise ValueError("'expected_answer' must be a string")
    answerable = data.get("answerable")
    if answerable is not None and not isinstance(answerable, bool):
        raise ValueError("'answerable' must be true or false")
    if answerable is None and (sources or answer):
        answerable = True
    kind = data.get("kind")
    if kind is not None and not isinstance(kind, str):
        raise ValueError("'kind' must be a string")
    return Question(number, question.strip(), sources, answer, answerable, kind)


def load_questions(path: Path) -> tuple[list[Question], list[dict[str, Any]]]:
    """The valid questions and, for the others, their line number and what is wrong."""
    questions, skipped = [], []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            questions.append(parse_line(number, raw))
        except ValueError as exc:
            skipped.append({"line": number, "error": str(exc)})
    return questions, skipped


def rank_of(results: list[dict[str, Any]], expected: list[str]) -> int | None:
    """1-based rank of the first expected file among the distinct files retrieved."""
    files = list(dict.fromkeys(r["filename"] for r in results))
    for rank, name in enumerate(files, start=1):
        if name in expected:
            return rank
    return None


def supported(source: dict[str, Any], q: Question) -> bool:
    """Whether a cited passage holds the supporting text (or, lacking one, is an expected file)."""
    if q.expected_answer:
        return overlap(q.expected_answer, source.get("text", "")) >= 0.6
    return source.get("filename") in q.expected_sources


def ask(client: httpx.Client, q: Question, collections: list[str] | None) -> Outcome:
    """Search (for ranks) and chat (for the answer) through the API."""
    found = client.post("/v1/search", json={"query": q.question, "k": 10,
                                            "collections": collections})  # fmt: skip
    found.raise_for_status()
    rank = rank_of(found.json()["results"], q.expected_sources)
    started = time.perf_counter()
    body = {"messages": [{"role": "user", "content": q.question}], "stream": False,
            "collections": collections, "save": False}  # fmt: skip
    chat = client.post("/v1/chat", json=body)
    chat.raise_for_status()
    seconds = time.perf_counter() - started
    reply = chat.json()
    answer, sources = reply["answer"], {s["n"]: s for s in reply["sources"]}
    cited = [sources[n] for n in reply["citations"] if n in sources]
    refused = abstained(answer)
    quote = " ".join(x["text"] for x in reply.get("quote", []))
    right = quoted = seen = None
    chain: dict[str, float | None] = {}
    if q.expected_answer:
        echo = echoes_prompt(answer, [s["filename"] for s in reply["sources"]])
        said = "" if refused or echo else answer
        right = not refused and not echo and is_correct(q.expected_answer, answer)
        quoted = is_correct(q.expected_answer, quote)
        seen = is_correct(q.expected_answer, f"{quote} {said}")
        chain = loss_chain(q.expected_answer, reply, quote, said)
    return Outcome(
        q.line, q.question, rank, answer, refused, right,
        overlap(q.expected_answer, answer) if q.expected_answer else None,
        len(cited), sum(supported(s, q) for s in cited), seconds, reply.get("trace_id"),
        quote, quoted, seen, chain, len(quote),
    )  # fmt: skip


def loss_chain(
    expected: str, reply: dict[str, Any], quote: str, said: str
) -> dict[str, float | None]:
    """The share of the expected answer's facts at each stage of one reply (None: it states
    no facts, or the reply has no such stage)."""
    sources = reply["sources"]
    texts = {
        "sources": " ".join(s["text"] for s in sources),
        "top_source": sources[0]["text"] if sources else "",
        "quote": quote,
        "read": " ".join(r["text"] for r in reply["read"]) if "read" in reply else None,
        "answer": said,
        "seen": f"{quote} {said}",
    }
    return {stage: None if text is None else facts_recall(expected, text)
            for stage, text in texts.items()}  # fmt: skip


def share(values: list[bool]) -> float | None:
    """The share of true values; None without values."""
    return sum(values) / len(values) if values else None


def mean(values: list[float | None]) -> float | None:
    """The mean of the values that are not None; None without any."""
    present = [v for v in values if v is not None]
    return round(sum(present) / len(present), 4) if present else None


def metrics_of(questions: list[Question], outcomes: list[Outcome]) -> dict[str, float | None]:
    """Retrieval, answer, citation, abstention and latency figures."""
    pairs = list(zip(questions, outcomes, strict=True))
    ranked = [o.rank for q, o in pairs if q.expected_sources]
    answerable = [o for q, o in pairs if q.answerable]
    graded = [o for o in answerable if o.correct is not None]
    cited = sum(o.cited for o in outcomes)
    seconds = [o.seconds for o in outcomes]
    p50, p95 = percentile(seconds, 50), percentile(seconds, 95)
    return {
        **{f"recall@{k}": share([r is not None and r <= k for r in ranked]) for k in (1, 5, 10)},
        "mrr": sum(1 / r for r in ranked if r) / len(ranked) if ranked else None,
        "answer_correct": share([bool(o.correct) for o in graded]),
        "answer_overlap": sum(o.overlap or 0 for o in graded) / len(graded) if graded else None,
        # what a person sees at once (the quote), and with the answer (quote + answer)
        "quote_correct": share([bool(o.quote_correct) for o in graded]),
        "seen_correct": share([bool(o.seen_correct) for o in graded]),
        "citation_precision": sum(o.cited_supported for o in outcomes) / cited if cited else None,
        "abstention": share([o.abstained for q, o in pairs if q.answerable is False]),
        "near_miss_abstention": share([o.abstained for q, o in pairs if q.kind == "near-miss"]),
        "false_abstention": share([o.abstained for o in answerable]),
        **{f"facts_{stage}": mean([o.facts.get(stage) for o in graded]) for stage in STAGES},
        "quote_chars_p50": percentile([o.quote_chars for o in graded if o.quote_chars], 50),
        "latency_p50_s": None if p50 is None else round(p50, 3),
        "latency_p95_s": None if p95 is None else round(p95, 3),
    }


def run_eval(api_url: str, key: str, path: Path, collections: list[str] | None) -> dict[str, Any]:
    """The whole report: metrics, counts, per-question outcomes and skipped lines."""
    questions, skipped = load_questions(path)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with httpx.Client(base_url=api_url, headers=headers, timeout=600) as client:
        outcomes = [ask(client, q, collections) for q in questions]
    return {
        "file": str(path),
        "questions": len(questions),
        "answerable": sum(q.answerable is True for q in questions),
        "unanswerable": sum(q.answerable is False for q in questions),
        "metrics": metrics_of(questions, outcomes),
        "skipped": skipped,
        "outcomes": [asdict(o) for o in outcomes],
    }


def failures(report: dict[str, Any], floors: list[str]) -> list[str]:
    """Each `metric=value` floor the report misses, as a sentence; ValueError for a bad floor."""
    missed = []
    for floor in floors:
        name, _, value = floor.partition("=")
        if name not in report["metrics"] or not value:
            raise ValueError(f"--fail-under {floor!r}: use metric=value, metric one of {QUALITY}")
        got, limit = report["metrics"][name], float(value)
        worse = got is None or (got > limit if name in LOWER_IS_BETTER else got < limit)
        if worse:
            missed.append(f"{name} = {got} misses the limit {limit}")
    return missed


def deltas(report: dict[str, Any], other: dict[str, Any]) -> dict[str, float | None]:
    """This report's metrics minus another report's."""
    mine, theirs = report["metrics"], other.get("metrics", {})
    return {
        name: None if mine.get(name) is None or theirs.get(name) is None
        else round(mine[name] - theirs[name], 4)
        for name in mine
    }  # fmt: skip
