"""A/B tests: named answer variants from a TOML file, each user assigned to one, stably."""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import InvalidRequest

KNOWN = {"name", "weight", "prompt", "chat_k", "fusion", "model"}


@dataclass(frozen=True)
class Variant:
    """One way of answering: prompt, passages, fusion weights (vector, lexical), model."""

    name: str
    weight: float = 1.0
    prompt: str | None = None
    chat_k: int | None = None
    fusion: tuple[float, float] | None = None
    model: str | None = None


@dataclass(frozen=True)
class Experiment:
    """Variants that share the traffic by weight; the first is the control."""

    name: str
    variants: list[Variant] = field(default_factory=list)

    def assign(
        self, user: str, allowed: Callable[[Variant], bool] = lambda _: True
    ) -> Variant | None:
        """The user's variant: a hash of experiment and user, so it never changes for them.

        Only the variants allowed for the user share their traffic (a tuned model's variant is
        for readers of its collections); None when none is.
        """
        variants = [v for v in self.variants if allowed(v)]
        if not variants:
            return None
        digest = hashlib.sha256(f"{self.name}:{user}".encode()).digest()
        point = int.from_bytes(digest[:8], "big") / 2**64 * sum(v.weight for v in variants)
        for variant in variants:
            point -= variant.weight
            if point < 0:
                return variant
        return variants[-1]


def variant_of(raw: dict[str, Any], where: str) -> Variant:
    """One [[variant]] table, checked."""
    unknown = set(raw) - KNOWN
    if unknown:
        raise InvalidRequest(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(KNOWN)}")
    name, weight = raw.get("name"), raw.get("weight", 1.0)
    if not isinstance(name, str) or not name:
        raise InvalidRequest(f"{where}: every variant needs a name")
    if not isinstance(weight, int | float) or weight <= 0:
        raise InvalidRequest(f"{where}: weight must be a positive number")
    fusion = raw.get("fusion")
    if fusion is not None and (
        not isinstance(fusion, list) or len(fusion) != 2 or min(fusion) < 0 or max(fusion) <= 0
    ):
        raise InvalidRequest(f"{where}: fusion is [vector weight, lexical weight], e.g. [1, 0.5]")
    chat_k = raw.get("chat_k")
    if chat_k is not None and (not isinstance(chat_k, int) or not 1 <= chat_k <= 20):
        raise InvalidRequest(f"{where}: chat_k must be an integer from 1 to 20")
    prompt = raw.get("prompt")
    if prompt is not None and "{not_found}" not in prompt:
        raise InvalidRequest(f"{where}: a prompt must contain {{not_found}} (the refusal text)")
    return Variant(
        name=name, weight=float(weight), prompt=prompt, chat_k=chat_k,
        fusion=(float(fusion[0]), float(fusion[1])) if fusion else None, model=raw.get("model"),
    )  # fmt: skip


def load_experiment(path: Path) -> Experiment:
    """The experiment in a TOML file: `name = "…"` and one `[[variant]]` table per variant."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InvalidRequest(f"cannot read variants file {path}: {exc}") from exc
    tables = data.get("variant", [])
    if not isinstance(tables, list) or not tables:
        raise InvalidRequest(f"{path}: define at least one [[variant]]")
    variants = [variant_of(t, f"{path} variant {i + 1}") for i, t in enumerate(tables)]
    if len({v.name for v in variants}) != len(variants):
        raise InvalidRequest(f"{path}: variant names must be unique")
    return Experiment(str(data.get("name") or path.stem), variants)
