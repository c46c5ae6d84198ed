"""The chat goes first: the API's gate marks the model busy in a real Redis, and a worker's
pause waits while the mark is there (core.priority)."""

from __future__ import annotations

import threading
import time

import redis

from answer.llm import Gate
from core.priority import KEY, MARK_TTL, ChatMark, ChatYield
from tests.isolated.test_operate import redis_url, serving  # noqa: F401 (a fixture)


def test_a_worker_pauses_while_the_model_generates_and_goes_on_when_it_stops(
    redis_url: str,  # noqa: F811
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.delete(KEY)
    gate = Gate(busy=ChatMark(redis_url).busy)
    pause = ChatYield(redis_url, max_wait=30)
    started = time.monotonic()
    pause()
    assert time.monotonic() - started < 0.5  # nothing generating: no wait
    held = threading.Event()

    def generate() -> None:
        with gate.held(timeout=5):
            held.set()
            time.sleep(3.0)  # longer than a mark lasts: it is renewed meanwhile

    threading.Thread(target=generate).start()
    held.wait(5)
    time.sleep(0.3)
    assert client.exists(KEY)
    started = time.monotonic()
    pause()
    waited = time.monotonic() - started
    # it waited for the rest of the generation, then for the mark to lapse (at most MARK_TTL)
    assert 2.0 < waited < 2.7 + MARK_TTL + 0.5


def test_a_steady_stream_of_questions_holds_a_worker_at_most_max_wait_then_lets_it_work(
    redis_url: str,  # noqa: F811
) -> None:
    mark = ChatMark(redis_url)
    mark.busy(True)
    try:
        time.sleep(0.3)
        pause = ChatYield(redis_url, max_wait=1.0)
        started = time.monotonic()
        pause()
        assert 1.0 <= time.monotonic() - started < 1.6
        started = time.monotonic()
        pause()  # as long working before it waits again: half the time, not one batch a wait
        assert time.monotonic() - started < 0.1
        time.sleep(1.0)
        started = time.monotonic()
        pause()
        assert 0.9 <= time.monotonic() - started < 1.6
        started = time.monotonic()
        ChatYield(redis_url, max_wait=0)()  # GPTU_CHAT_PRIORITY_WAIT=0: never pauses
        assert time.monotonic() - started < 0.1
    finally:
        mark.busy(False)


def test_without_redis_the_chat_answers_and_workers_run_on() -> None:
    down = "redis://127.0.0.1:9/0"  # nothing listens on the discard port
    gate = Gate(busy=ChatMark(down).busy)
    with gate.held(timeout=1):
        started = time.monotonic()
        ChatYield(down, max_wait=30)()
        assert time.monotonic() - started < 1.5
