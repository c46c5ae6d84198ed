"""The chat goes first: while a model generates, workers pause between batches.

On two cores a worker embedding beside llama.cpp slows generation far more than its share of
the CPU suggests (llama.cpp's threads wait on each other at every layer; one preempted thread
stalls the rest), and lowering the worker's priority does not stop that. So the API marks the
model busy in Redis, and the worker waits between two batches of its work (about a second
each) until the mark is gone.

The mark is one key with a short expiry, renewed while any API replica generates: no replica
clears another's mark, and a replica that dies leaves none behind for longer than `MARK_TTL`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)
KEY = "gptu:chat-busy"
MARK_TTL = 2.0  # seconds a mark lasts unless renewed
RENEW_EVERY = 0.5
CHECK_EVERY = 0.1  # how often a waiting worker looks again


def connect(redis_url: str) -> Any:
    """A Redis client that gives up fast: the mark is a courtesy, never worth a stall."""
    import redis

    return redis.Redis.from_url(redis_url, socket_connect_timeout=0.5, socket_timeout=0.5)


class ChatMark:
    """The API's side: `busy(True)` when its model starts generating, `busy(False)` when it
    stops; a thread renews the mark meanwhile."""

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self.client: Any = None
        self.active = False
        self.wake = threading.Condition()
        self.thread: threading.Thread | None = None

    def busy(self, active: bool) -> None:
        """Say whether the model is generating now."""
        with self.wake:
            self.active = active
            if active and self.thread is None:
                self.thread = threading.Thread(target=self.renew, name="chat-mark", daemon=True)
                self.thread.start()
            self.wake.notify_all()

    def renew(self) -> None:
        """Keep the mark while active (at once on a change), never raising."""
        while True:
            with self.wake:
                while not self.active:
                    self.wake.wait()
            self.mark()
            with self.wake:
                self.wake.wait(RENEW_EVERY)

    def mark(self) -> None:
        """Set the mark for MARK_TTL seconds; a Redis that does not answer is skipped."""
        try:
            if self.client is None:
                self.client = connect(self.redis_url)
            self.client.set(KEY, b"1", px=int(MARK_TTL * 1000))
        except Exception as exc:  # Redis down: the chat still answers, workers run on
            log.debug("chat mark not set: %s", exc)
            self.client = None


class ChatYield:
    """The worker's side: called between batches, waits while the mark is set, at most
    `max_wait` seconds in a row; after a wait that long it works as long again before it
    yields another time, so a steady stream of questions halves an import, never stops it
    (nor pushes a large document past the task's time limit)."""

    def __init__(
        self,
        redis_url: str,
        max_wait: float,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis_url = redis_url
        self.max_wait = max_wait
        self.sleep = sleep
        self.clock = clock
        self.client: Any = None
        self.working_until = 0.0  # after a full wait: no other one before this time

    def __call__(self) -> None:
        """Wait while the chat is busy (not at all when max_wait is 0 or Redis is down)."""
        started = self.clock()
        if self.max_wait <= 0 or started < self.working_until:
            return
        while self.marked():
            if self.clock() - started >= self.max_wait:
                self.working_until = self.clock() + self.max_wait
                return
            self.sleep(CHECK_EVERY)

    def marked(self) -> bool:
        """Whether the mark is set; False when Redis does not answer."""
        try:
            if self.client is None:
                self.client = connect(self.redis_url)
            return bool(self.client.exists(KEY))
        except Exception:
            self.client = None
            return False
