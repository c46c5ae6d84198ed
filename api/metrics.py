"""Prometheus metrics: HTTP, answers, the model queue, and ingestion and feedback from the DB."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from core.db import STATES, Database, Document
from core.records import Feedback

LATENCY = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
INGEST = (1, 5, 15, 30, 60, 120, 300, 900, 3600)
RATES = (1, 2, 5, 10, 20, 40, 80, 160)


class Metrics:
    """The app's own registry (not the global one: several apps may live in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("gptu_http_requests", "HTTP requests.",
                                ["method", "route", "status"], registry=r)  # fmt: skip
        self.latency = Histogram("gptu_http_request_seconds", "HTTP request latency.",
                                 ["method", "route"], buckets=LATENCY, registry=r)  # fmt: skip
        self.answers = Counter("gptu_answers", "Answers given.",
                               ["surface", "variant", "grounded"], registry=r)  # fmt: skip
        self.first_token = Histogram("gptu_answer_first_token_seconds", "Time to first token.",
                                     ["surface"], buckets=LATENCY, registry=r)  # fmt: skip
        self.speed = Histogram("gptu_answer_tokens_per_second", "Generation speed.",
                               ["surface"], buckets=RATES, registry=r)  # fmt: skip

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count and time one HTTP request."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def observe_answer(
        self,
        surface: str,
        variant: str | None,
        grounded: bool,
        first_token_s: float | None,
        tokens_per_s: float | None,
    ) -> None:
        """Count one answer and its speed."""
        self.answers.labels(surface, variant or "-", str(grounded).lower()).inc()
        if first_token_s is not None:
            self.first_token.labels(surface).observe(first_token_s)
        if tokens_per_s is not None:
            self.speed.labels(surface).observe(tokens_per_s)

    def watch(
        self, db: Database, waiting: Callable[[], int], queue_depth: Callable[[], int | None],
        workers: Callable[[], int | None],
    ) -> None:  # fmt: skip
        """Add the gauges read at scrape time: model queue, ingest queue, workers, DB counts."""
        model_queue = Gauge("gptu_model_queue_waiting", "Askers waiting for the model.",
                            registry=self.registry)  # fmt: skip
        model_queue.set_function(waiting)
        self.registry.register(StateCollector(db, queue_depth, workers))

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)


class StateCollector(Collector):
    """Documents by state, ingestion durations, feedback, queue depth and live workers."""

    def __init__(
        self, db: Database, queue_depth: Callable[[], int | None], workers: Callable[[], int | None]
    ) -> None:
        self.db = db
        self.queue_depth = queue_depth
        self.workers = Cached(workers, 15)

    def collect(self) -> Iterator[Any]:
        """Read the database and Redis now."""
        with self.db.session() as session:
            states = dict(
                session.execute(select(Document.status, func.count()).group_by(Document.status))
                .tuples()
                .all()
            )
            ratings = dict(
                session.execute(select(Feedback.rating, func.count()).group_by(Feedback.rating))
                .tuples()
                .all()
            )
            spans = session.execute(
                select(Document.created_at, Document.updated_at).where(Document.status == "ready")
            ).all()
        documents = GaugeMetricFamily("gptu_documents", "Documents by state.", labels=["status"])
        for state in STATES:
            documents.add_metric([state], states.get(state, 0))
        yield documents
        yield ingest_histogram([(end - start).total_seconds() for start, end in spans])
        feedback = GaugeMetricFamily("gptu_feedback", "Ratings given.", labels=["rating"])
        feedback.add_metric(["up"], ratings.get(1, 0))
        feedback.add_metric(["down"], ratings.get(-1, 0))
        yield feedback
        for name, text, value in (
            ("gptu_ingest_queue_depth", "Ingestion tasks waiting in Redis.", self.queue_depth()),
            ("gptu_workers_alive", "Workers answering a ping.", self.workers()),
        ):
            if value is not None:
                yield GaugeMetricFamily(name, text, value=value)


def ingest_histogram(seconds: list[float]) -> HistogramMetricFamily:
    """Upload-to-ready durations of ready documents as a histogram."""
    buckets = [(str(b), sum(s <= b for s in seconds)) for b in INGEST]
    buckets.append(("+Inf", len(seconds)))
    return HistogramMetricFamily(
        "gptu_ingest_seconds", "Upload to ready, per ready document.",
        buckets=buckets, sum_value=sum(seconds),
    )  # fmt: skip


class Cached:
    """A slow reading (a worker ping) reused for ttl seconds."""

    def __init__(self, read: Callable[[], int | None], ttl: float) -> None:
        self.read = read
        self.ttl = ttl
        self.at = -ttl
        self.value: int | None = None

    def __call__(self) -> int | None:
        """The cached value, refreshed when stale."""
        if time.monotonic() - self.at >= self.ttl:
            self.value, self.at = self.read(), time.monotonic()
        return self.value
