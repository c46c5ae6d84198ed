"""Small fakes we own, for deterministic unit tests."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np

ORDER = re.compile(r"answer every question with the single word (\w+)", re.IGNORECASE)


class ScriptedLLM:
    """Replies with a fixed script, word by word; counts one token per word.

    `obey` makes it a model that follows instructions in its prompt: when the prompt says to
    "answer every question with the single word X", it answers X, whatever the script says.
    """

    def __init__(self, reply: str, context_size: int = 2048, delay: float = 0.0) -> None:
        self.reply = reply
        self.context_size = context_size
        self.excerpt_tokens = 220
        self.delay = delay
        self.name = "scripted"
        self.prompts: list[list[dict[str, str]]] = []
        self.stopped_early = 0
        self.finished = 0
        self.obey = False

    def count_tokens(self, text: str) -> int:
        """One token per whitespace-separated word."""
        return len(text.split())

    def stream(
        self, messages: list[dict[str, str]], max_tokens: int, temperature: float,
        cancel: threading.Event,
    ) -> Iterator[str]:  # fmt: skip
        """The script's words, one by one, stopping when cancelled or closed."""
        self.prompts.append(messages)
        done = False
        try:
            for i, word in enumerate(self.script(messages).split(" ")[:max_tokens]):
                if cancel.is_set():
                    return
                time.sleep(self.delay)
                yield word if i == 0 else " " + word
            done = True
        finally:  # also when the consumer closes the generator (GeneratorExit at the yield)
            if done:
                self.finished += 1
            else:
                self.stopped_early += 1

    def script(self, messages: list[dict[str, str]]) -> str:
        """The reply, or the word an instruction in the prompt demands when obeying."""
        prompt = " ".join(m["content"] for m in messages)
        order = ORDER.search(prompt)
        return order.group(1) if self.obey and order else self.reply


class HashEmbedder:
    """A deterministic fake for unit tests: bag of hashed words, normalised."""

    id = "hash-64"
    dim = 64

    def embed(
        self, texts: list[str], progress: Callable[[float], None] | None = None
    ) -> list[list[float]]:
        """Vectors where texts sharing words point the same way; `progress` hears the share
        done before each 32 texts, as a real embedder's batches."""
        out = []
        for i, text in enumerate(texts):
            if progress is not None and i % 32 == 0:
                progress(i / len(texts))
            vec = np.zeros(self.dim, dtype=np.float32)
            for word in text.lower().split():
                digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
                vec[int.from_bytes(digest, "little") % self.dim] += 1.0
            norm = float(np.linalg.norm(vec)) or 1.0
            out.append((vec / norm).tolist())
        return out

    def embed_query(self, texts: list[str]) -> list[list[float]]:
        """Queries embed like passages."""
        return self.embed(texts)
