"""Small fakes we own, for deterministic unit tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator


class ScriptedLLM:
    """Replies with a fixed script, word by word; counts one token per word."""

    def __init__(self, reply: str, context_size: int = 512, delay: float = 0.0) -> None:
        self.reply = reply
        self.context_size = context_size
        self.delay = delay
        self.name = "scripted"
        self.prompts: list[list[dict[str, str]]] = []
        self.stopped_early = 0

    def count_tokens(self, text: str) -> int:
        """One token per whitespace-separated word."""
        return len(text.split())

    def stream(
        self, messages: list[dict[str, str]], max_tokens: int, temperature: float,
        cancel: threading.Event,
    ) -> Iterator[str]:  # fmt: skip
        """The script's words, one by one, stopping when cancelled."""
        self.prompts.append(messages)
        for i, word in enumerate(self.reply.split(" ")[:max_tokens]):
            if cancel.is_set():
                self.stopped_early += 1
                return
            time.sleep(self.delay)
            yield word if i == 0 else " " + word
