"""A background thread that keeps documents moving when Redis or a worker was away."""

from __future__ import annotations

import logging
import threading

from api.intake import Intake

log = logging.getLogger(__name__)


class Sweeper:
    """Calls `intake.sweep()` every `interval` seconds until stopped."""

    def __init__(self, intake: Intake, interval: float) -> None:
        self.intake = intake
        self.interval = interval
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="gptu-sweeper", daemon=True)

    def start(self) -> None:
        """Start sweeping."""
        self.thread.start()

    def stop(self) -> None:
        """Stop and wait for the current pass."""
        self.stopped.set()
        self.thread.join(timeout=10)

    def _loop(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                sent = self.intake.sweep()
                if sent:
                    log.info("sweeper queued %d waiting documents", sent)
            except Exception:  # the sweeper must outlive any one failure
                log.exception("sweep failed")
