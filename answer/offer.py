"""Which of the loaded models a caller may use: a model tuned on collections can repeat their
text, so only people who may read every one of them get it (chat, OpenAI API, Slack, A/B)."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from answer.llm import LLM
from core.errors import PermissionDenied

Needs = Mapping[str, frozenset[str]]  # model name → the collections it was tuned on


def may_use(needs: Needs, name: str, readable: Collection[str] | None) -> bool:
    """Whether a caller who may read `readable` may use the model (None: a caller-less tool,
    which gets only models tuned on nothing)."""
    needed = needs.get(name, frozenset())
    return not needed or (readable is not None and needed <= set(readable))


def usable(
    loaded: Mapping[str, LLM], needs: Needs, readable: Collection[str] | None
) -> dict[str, LLM]:
    """The loaded models (by name) the caller may use, the default first."""
    return {name: llm for name, llm in loaded.items() if may_use(needs, name, readable)}


def pick(
    loaded: Mapping[str, LLM], needs: Needs, readable: Collection[str] | None, wanted: list[str]
) -> LLM:
    """The first wanted model the caller may use, else the first usable one (the base loaded
    beside a tuned default); PermissionDenied when the caller may use none."""
    allowed = usable(loaded, needs, readable)
    for name in wanted:
        if name in allowed:
            return allowed[name]
    if allowed:
        return next(iter(allowed.values()))
    raise PermissionDenied(
        "the chat model was tuned on collections you may not read, and no other model is "
        "loaded; ask an administrator"
    )
