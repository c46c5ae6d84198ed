"""A background thread that keeps documents moving when Redis or a worker was away."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Sweeper:
    """Runs each job (e.g. `intake.sweep`) every `interval` seconds until stopped."""

    def __init__(
        self, interval: float, *jobs: Callable[[], int | None], name: str = "gptu-sweeper"
    ) -> None:
        self.jobs = jobs
        self.interval = interval
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        """Start sweeping."""
        self.thread.start()

    def stop(self) -> None:
        """Stop and wait for the current pass."""
        self.stopped.set()
        self.thread.join(timeout=10)

    def _loop(self) -> None:
        while not self.stopped.wait(self.interval):
            for job in self.jobs:
                try:
                    done = job()
                    if done:
                        log.info("%s handled %d item(s)", getattr(job, "__name__", "job"), done)
                except Exception:  # the sweeper must outlive any one failure
                    log.exception("sweep failed")
