"""The A/B report from real SQLite rows, against a hand-computed case."""

from __future__ import annotations

from pathlib import Path

import pytest

from answer.exports import ab_report
from answer.rag import NOT_FOUND
from core.db import Database
from core.records import Feedback, Trace


def add(db: Database, variant: str, up: int, down: int, unrated: int, refused: int) -> None:
    """Traces of one variant: up/down rated, some unrated, the first `refused` ones refusals."""
    ratings = [1] * up + [-1] * down + [None] * unrated
    with db.session() as session:
        for i, rating in enumerate(ratings):
            trace = Trace(user_name=f"u{i}", surface="chat", question="q", variant=variant,
                          answer=NOT_FOUND if i < refused else "an answer",
                          grounded=i >= refused, total_ms=1000.0 * (i % 10 + 1))  # fmt: skip
            session.add(trace)
            session.flush()
            if rating is not None:
                session.add(Feedback(trace_id=trace.id, user_name=f"u{i}", rating=rating))


def test_report_matches_a_hand_computed_case(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'ab.db'}")
    add(db, "control", up=25, down=25, unrated=10, refused=6)
    add(db, "better", up=40, down=10, unrated=0, refused=5)
    report = ab_report(db, ["control", "better"], min_ratings=30)
    control, better = report["variants"]
    assert (control["answers"], control["ratings"], control["up"]) == (60, 50, 25)
    assert control["abstention_rate"] == pytest.approx(6 / 60)
    assert better["up_rate"] == 0.8
    # Wilson 95 % for 40/50: (0.6696, 0.8876); pooled z-test 40/50 vs 25/50: p = 0.001662
    assert better["up_ci95"][0] == pytest.approx(0.6696, abs=1e-4)
    assert better["p_value_vs_control"] == pytest.approx(0.001662, abs=2e-5)
    assert control["latency_p50_s"] == pytest.approx(5.5)
    assert report["verdict"] == "better: 👍 rate higher than control (p = 0.00166)"


def test_report_waits_for_enough_ratings(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'ab.db'}")
    add(db, "control", up=20, down=20, unrated=0, refused=0)
    add(db, "new", up=5, down=3, unrated=4, refused=1)
    report = ab_report(db, ["control", "new"], min_ratings=30)
    assert report["verdict"] == "not enough data yet: new has fewer than 30 ratings"
