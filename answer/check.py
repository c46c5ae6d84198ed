"""The answer check: an answer that states a number or name its evidence does not hold, or
contradicts, is replaced by the quote (or the refusal) before anyone reads it as the answer.

Measured on small models, the usual faults are an invented number ("700-950" beside a quote
that says "700-900"), an invented name, and a number taken from another passage than the
one that answers (a US building cost for a Swedish permit fee).
"""

from __future__ import annotations

import re

from answer.rag import (
    CITATION,
    NOT_FOUND,
    NUMBER,
    Plan,
    Source,
    held_forms,
    held_numbers,
    numbers,
)
from core.scoring import abstained, fact_forms, facts

# The word after a number (or the currency sign before it) that says what it counts.
KIND_AFTER = re.compile(r"\s*(%|[^\W\d_]+)", re.UNICODE)
KIND_BEFORE = re.compile(r"([$€£¥]|[A-Z]{3})\s*$")
SAME_KINDS = {"percent": "%", "per cent": "%"}
QUOTED = "The documents say: "  # how an answer replaced by its quote begins


def invented_numbers(answer: str, passages: list[Source], asked: str = "") -> list[str]:
    """The numbers the answer states (citation markers aside) that no passage holds (nor the
    question: "Grade N4" asked about is not invented)."""
    held = held_numbers(passages, 1) | numbers(asked, 1)
    stated = [m.group(0) for m in NUMBER.finditer(CITATION.sub(" ", answer))]
    return list(dict.fromkeys(n for n in stated if not numbers(n, 1) & held))


def invented_names(answer: str, passages: list[Source], asked: str) -> list[str]:
    """The names (capitalised words, acronyms) the answer states that neither the passages,
    their file names and titles, nor the question hold."""
    held = fact_forms(asked) | held_forms(passages)
    stated = [f for f in facts(CITATION.sub(" ", answer)) if not f[0].isdigit()]
    return [name for name in stated if name not in held]


def kinds(text: str) -> dict[str, str]:
    """Each number of text (bare digits) with what it counts: the word after it or the
    currency before it, lower case ("14 days" -> days, "$275" -> $)."""
    found: dict[str, str] = {}
    for match in NUMBER.finditer(text):
        before = KIND_BEFORE.search(text[max(0, match.start() - 4) : match.start()])
        after = KIND_AFTER.match(text, match.end())
        kind = before.group(1) if before else after.group(1) if after else ""
        kind = SAME_KINDS.get(kind.lower(), kind.lower()).removesuffix("s")
        found.setdefault(re.sub(r"\D", "", match.group(0)), kind)
    return found


def contradicted(answer: str, quote: str, asked: str) -> list[str]:
    """The numbers the answer states where the quote states another of the same kind (days,
    EUR, $, %): the answer says "950 SEK" where the quote says "900 SEK"."""
    quoted = kinds(quote)
    said = kinds(CITATION.sub(" ", answer))
    question = set(kinds(asked))
    quoted_kinds = {kind for kind in quoted.values() if kind}
    return [
        number
        for number, kind in said.items()
        if number not in quoted and number not in question and kind in quoted_kinds
    ]


def verified(answer: str, plan: Plan) -> tuple[str, list[str], list[str]]:
    """The answer, or what replaces it: the quote (check "quote") or the refusal ("refuse"),
    when it states numbers or names no passage holds, or numbers its quote contradicts; with
    the invented numbers and names, and the contradicted numbers. With check "off" the answer
    stays as it is."""
    if plan.check == "off" or abstained(answer):  # the eval's own refusal test
        return answer, [], []
    asked = plan.question
    invented = invented_numbers(answer, plan.passages, asked)
    invented += invented_names(answer, plan.passages, asked)
    against = contradicted(answer, plan.quote[0].text, asked) if plan.quote else []
    against = [n for n in against if n not in {re.sub(r"\D", "", x) for x in invented}]
    if not invented and not against:
        return answer, [], []
    if plan.check == "quote" and plan.quote:
        best = plan.quote[0]
        return f'{QUOTED}"{best.text}" [{best.n}]', invented, against
    return NOT_FOUND, invented, against
