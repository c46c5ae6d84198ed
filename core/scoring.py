"""Scores for evaluation and A/B reports: answer overlap, percentiles, intervals, a z-test.

Answer correctness, as documented in the README: both texts are normalised (Unicode NFKC,
lower case, punctuation dropped, whitespace collapsed). An answer is correct when it contains
the normalised expected answer, or at least 60 % of the expected answer's key words (words
that are not stop words; numbers always count). The overlap score is that key-word share.
An answer that only echoes the prompt (its markup, or file names) is never correct.
"""

from __future__ import annotations

import math
import re
import unicodedata
from statistics import NormalDist

PUNCTUATION = re.compile(r"[^\w\s]", re.UNICODE)
STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "were",
        "will",
        "with",
        "which",
        "who",
        "what",
        "when",
        "where",
        "why",
        "how",
        "does",
        "do",
        "did",
        "not",
        "no",
        "yes",
    ]
)
CORRECT_OVERLAP = 0.6
ABSTAIN_MARKERS = (
    "could not find this in the documents",
    "i could not find",
    "not in the documents",
    "the documents do not mention",
)


def normalise(text: str) -> str:
    """NFKC, lower case, no punctuation, single spaces."""
    text = unicodedata.normalize("NFKC", text).lower()
    return " ".join(PUNCTUATION.sub(" ", text).split())


def key_words(text: str) -> list[str]:
    """The words of text that carry the facts."""
    return [w for w in normalise(text).split() if w not in STOP_WORDS]


def overlap(expected: str, text: str) -> float:
    """The share of expected's key words found in text (1.0 when it contains it whole)."""
    if normalise(expected) and normalise(expected) in normalise(text):
        return 1.0
    wanted = key_words(expected)
    if not wanted:
        return 0.0
    present = set(normalise(text).split())
    return sum(w in present for w in wanted) / len(wanted)


def is_correct(expected: str, answer: str) -> bool:
    """Whether the answer states the expected fact (see the module docstring)."""
    return overlap(expected, answer) >= CORRECT_OVERLAP


PROMPT_MARKUP = ("<passages>", "</passages>", "question:")


def echoes_prompt(answer: str, filenames: list[str]) -> bool:
    """Whether the answer is the prompt's markup or file names rather than an answer.

    It is when it repeats the prompt's fence or question label, or when, file names and
    citation markers aside, fewer than two key words are left.
    """
    if any(mark in answer.lower() for mark in PROMPT_MARKUP):
        return True
    rest = re.sub(r"\[\d{1,2}\]", " ", answer)
    for name in sorted(filenames, key=len, reverse=True):
        rest = rest.replace(name, " ")
    return len(key_words(rest)) < 2


def abstained(answer: str) -> bool:
    """Whether the answer is gptu's refusal ('I could not find this in the documents')."""
    said = normalise(answer)
    return any(marker in said for marker in ABSTAIN_MARKERS)


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100) by linear interpolation; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    at = (len(ordered) - 1) * q / 100
    low, high = math.floor(at), math.ceil(at)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def wilson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion; (0, 1) without observations."""
    if n == 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def two_proportion_p(s1: int, n1: int, s2: int, n2: int) -> float | None:
    """Two-sided p-value of a pooled two-proportion z-test; None when it is undefined."""
    if n1 == 0 or n2 == 0:
        return None
    pooled = (s1 + s2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return None
    z = (s1 / n1 - s2 / n2) / se
    return 2 * (1 - NormalDist().cdf(abs(z)))


# Facts: the numbers and names an expected answer states, as the third-party eval scores them.
FACT_NUMBER = re.compile(r"(?<![^\W\d_])\d+(?:[.,:]\d+)*")  # not the digits of "N3"
FACT_WORD = re.compile(r"[^\W_](?:[\w&'\u2019-]*[^\W_])?", re.UNICODE)
SENTENCE_START = re.compile(r"(?:^|[.!?:;]\s+|\n\s*)$")
PLAIN_WORDS = (
    "yes no if the a an in on at for to of and or but this that these those it its they he she "
    "we you your our their there here"
)
PLAIN_CAPITALS = frozenset(PLAIN_WORDS.split(" ")) | STOP_WORDS  # capitalised, yet no name


def number_form(text: str) -> str:
    """A number as compared: thousands separators dropped ("2,400" = "2400"), a trailing
    ".0"/",00" part kept as written otherwise."""
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", text):
        return text.replace(",", "")
    return text.rstrip(".,:")


def word_form(word: str) -> str:
    """A word as compared: lower case, one apostrophe, no possessive 's."""
    return word.lower().replace("\u2019", "'").removesuffix("'s")


def facts(text: str) -> list[str]:
    """The numbers and names of a text, normalised, each once (in order).

    Numbers: every run of digits (with its decimal part). Names: capitalised words that do
    not merely start a sentence, and acronyms anywhere ("NTUC-ARU", "N3", "H&P").
    """
    found: list[str] = []
    for match in FACT_NUMBER.finditer(text):
        found.append(number_form(match.group(0)))
    for match in FACT_WORD.finditer(text):
        word = match.group(0)
        if not word[0].isupper() or word.lower() in PLAIN_CAPITALS:
            continue
        acronym = sum(c.isupper() or c.isdigit() for c in word) >= 2
        starts = SENTENCE_START.search(text[: match.start()]) is not None
        if acronym or not starts:
            found.append(word_form(word))
    return list(dict.fromkeys(f for f in found if f))


def fact_forms(text: str) -> set[str]:
    """Everything a text holds that a fact can match: its numbers and its words, normalised."""
    text = unicodedata.normalize("NFKC", text)
    numbers = {number_form(m.group(0)) for m in FACT_NUMBER.finditer(text)}
    words = {word_form(m.group(0)) for m in FACT_WORD.finditer(text)}
    return numbers | words


def facts_recall(expected: str, text: str) -> float | None:
    """The share of the expected answer's facts that text states; None when it has none."""
    wanted = facts(unicodedata.normalize("NFKC", expected))
    if not wanted:
        return None
    held = fact_forms(text)
    return sum(f in held for f in wanted) / len(wanted)
