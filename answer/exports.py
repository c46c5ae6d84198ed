"""Data out of the traces: new eval lines from rated answers, fine-tuning JSONL, A/B reports."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select

from answer.rag import Source, build_messages
from core.db import Database
from core.records import Feedback, Trace
from core.scoring import abstained, percentile, two_proportion_p, wilson


def rated(db: Database, min_rating: int = -1) -> Iterator[tuple[Trace, Feedback]]:
    """Traces with feedback at or above min_rating, oldest first."""
    with db.session() as session:
        rows = session.execute(
            select(Trace, Feedback)
            .join(Feedback, Feedback.trace_id == Trace.id)
            .where(Feedback.rating >= min_rating)
            .order_by(Trace.created_at)
        ).tuples()
        yield from rows.all()


def eval_lines(db: Database) -> Iterator[dict[str, Any]]:
    """👍 answers become expected answers; 👎 ones become questions to look at."""
    for trace, feedback in rated(db):
        line: dict[str, Any] = {"question": trace.question, "rating": feedback.rating,
                                "trace_id": trace.id}  # fmt: skip
        if feedback.comment:
            line["comment"] = feedback.comment
        cited = [p["filename"] for p in trace.passages if p["n"] in trace.citations]
        shown = cited or [p["filename"] for p in trace.passages]
        if feedback.rating > 0 and not abstained(trace.answer):
            line["expected_answer"] = trace.answer
            line["expected_sources"] = list(dict.fromkeys(shown))
            line["answerable"] = True
        elif feedback.rating > 0:
            line["answerable"] = False  # the refusal was judged right
        else:
            line["rejected_answer"] = trace.answer  # 👎: write the right answer, then keep it
        yield line


def finetune_lines(db: Database, min_rating: int = 1) -> Iterator[dict[str, Any]]:
    """Chat-format examples (system, passages + question, answer) from well-rated answers."""
    for trace, _ in rated(db, min_rating):
        # traces written before passages carried their chunk number lack it; it is not shown
        passages = [Source.model_validate({"chunk": 0, **p}) for p in trace.passages]
        turns = [{"role": "user", "content": trace.question}]
        messages = build_messages(turns, passages)
        yield {"messages": [*messages, {"role": "assistant", "content": trace.answer}]}


def ab_report(
    db: Database, order: list[str] | None = None, min_ratings: int = 30
) -> dict[str, Any]:
    """Per variant: 👍 rate and abstention rate with 95 % intervals, latency, p-value vs control."""
    with db.session() as session:
        rows = session.execute(
            select(Trace.variant, Trace.grounded, Trace.answer, Trace.total_ms, Feedback.rating)
            .outerjoin(Feedback, Feedback.trace_id == Trace.id)
            .where(Trace.variant.is_not(None))
        ).all()
    names = list(dict.fromkeys([*(order or []), *sorted({r[0] for r in rows if r[0]})]))
    variants: list[dict[str, Any]] = []
    for name in names:
        mine = [r for r in rows if r[0] == name]
        up = sum(r[4] == 1 for r in mine)
        ratings = sum(r[4] is not None for r in mine)
        refused = sum((not r[1]) or abstained(r[2]) for r in mine)
        latency = [r[3] / 1000 for r in mine if r[3] is not None]
        variants.append({
            "variant": name, "answers": len(mine), "ratings": ratings, "up": up,
            "up_rate": up / ratings if ratings else None, "up_ci95": wilson(up, ratings),
            "abstention_rate": refused / len(mine) if mine else None,
            "abstention_ci95": wilson(refused, len(mine)),
            "latency_p50_s": percentile(latency, 50), "latency_p95_s": percentile(latency, 95),
        })  # fmt: skip
    control = variants[0] if variants else None
    for v in variants[1:]:
        assert control is not None
        v["p_value_vs_control"] = two_proportion_p(v["up"], v["ratings"], control["up"],
                                                   control["ratings"])  # fmt: skip
    short = [v["variant"] for v in variants if v["ratings"] < min_ratings]
    verdict = (
        f"not enough data yet: {', '.join(short)} ha{'s' if len(short) == 1 else 've'} fewer "
        f"than {min_ratings} ratings" if short or len(variants) < 2 else significance(variants)
    )  # fmt: skip
    return {"control": control["variant"] if control else None, "variants": variants,
            "min_ratings": min_ratings, "verdict": verdict}  # fmt: skip


def significance(variants: list[dict[str, Any]]) -> str:
    """One sentence on whether any variant's 👍 rate differs from the control's (p < 0.05)."""
    control = variants[0]
    parts = []
    for v in variants[1:]:
        p = v.get("p_value_vs_control")
        if p is None:
            parts.append(f"{v['variant']}: no test possible")
            continue
        better = "higher" if (v["up_rate"] or 0) > (control["up_rate"] or 0) else "lower"
        if p < 0.05:
            parts.append(
                f"{v['variant']}: 👍 rate {better} than {control['variant']} (p = {p:.3g})"
            )
        else:
            parts.append(f"{v['variant']}: no significant difference (p = {p:.3g})")
    return "; ".join(parts)
