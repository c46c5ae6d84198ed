"""Which of the loaded models a caller may use: a model tuned on collections can repeat their
text, so only people who may read every one of them get it (chat, OpenAI API, Slack, A/B).

A tuned model records the ids of the collections it learnt from, never only their names: a
collection deleted and made again under its name is another collection, and a model tuned on
the first is nobody's to use (not even an administrator's: what it learnt from is gone)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from answer.llm import LLM
from core.errors import PermissionDenied

# model name → the names, now, of the collections its users must read (None: no one may use it)
Needs = Mapping[str, frozenset[str] | None]
Names = Callable[[frozenset[str]], Mapping[str, str]]  # collection ids → names, of those there


@dataclass(frozen=True)
class Restrictions:
    """The tuned models among the loaded ones and the ids of the collections each learnt from."""

    learnt: Mapping[str, frozenset[str]]  # model name → collection ids (only tuned models)
    names: Names  # what those collections are called now (a collection gone is not there)

    def now(self) -> Needs:
        """What each tuned model's users must read, as the callers' collections are named now:
        the names of the collections it learnt from, or None when one of them is gone."""
        if not self.learnt:
            return {}
        there = self.names(frozenset().union(*self.learnt.values()))
        return {model: frozenset(there[i] for i in ids) if ids <= there.keys() else None
                for model, ids in self.learnt.items()}  # fmt: skip


NONE = Restrictions({}, lambda ids: {})  # no tuned model loaded


def may_use(needs: Needs, name: str, readable: Collection[str] | None) -> bool:
    """Whether a caller who may read `readable` (collection names) may use the model (None: a
    caller-less tool, which gets only models tuned on nothing)."""
    needed = needs.get(name, frozenset())
    if needed is None:
        return False
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
        "the chat model was tuned on collections you may not read (or that were deleted), "
        "and no other model is loaded; ask an administrator"
    )
