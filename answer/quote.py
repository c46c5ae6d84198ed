"""The quote and the excerpts: the source units that most likely answer, chosen without the model.

Every sentence of the retrieved passages is scored by the question's rare words it contains
(idf-weighted, over those sentences) and by its embedding's cosine to the question's. The quote
is the whole unit (answer/units.py: paragraph, list, table row, FAQ entry) around the best
sentence, up to QUOTE_CHARS, shown verbatim at once with file and page and that sentence
marked; what the model reads is the best units, whole and in document order, up to a token
budget.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from pydantic import BaseModel, Field

from answer.units import ENDS_SENTENCE, Unit, units
from ingest.embed import Embedder
from ingest.passage import Passage

BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+")
WORD = re.compile(r"[^\W_]+", re.UNICODE)
STOP_WORDS = (
    "a an and are as at be by can could did do does for from had has have how i if in into is "
    "it its may me might must my no not of on or our shall should so than that the their them "
    "then there these they this to was we were what when where which who whom whose why will "
    "with would you your"
)
STOP = frozenset(STOP_WORDS.split(" "))
MAX_SENTENCE = 400  # characters; longer runs (a 38k-character line) are cut at spaces
QUOTE_CHARS = 600  # the longest quote; a longer unit is quoted around its best sentence
STATEMENT_WORDS = 12  # a line this long states something even without a full stop
LEADS_IN = (":", "?")  # a unit ending so (a lead-in, a question) is quoted with the next one
SHORT = 90  # a unit shorter than this (a list item; not a question and its answer) is quoted
# with the next one
# Sentences (best by words) whose embeddings are compared with the question's, cut to
# EMBEDDED_CHARS: one thread embeds ~8 short sentences in ~100 ms, 24 long ones took ~1 s.
EMBEDDED = 8
EMBEDDED_CHARS = 240
LEXICAL_WEIGHT = 0.5


class Quote(BaseModel):
    """Verbatim source text: `text == sources[n - 1].text[start:end]`."""

    n: int = Field(description="The source it comes from, as numbered in `sources`.")
    label: str = Field(description="'file, p. 3'.")
    filename: str
    page: int | None
    text: str
    start: int = Field(description="Offset of the quote in the source's text.")
    end: int
    score: float = Field(description="Share of the question's weight it matches, with cosine.")
    mark_start: int = Field(0, description="Offset of the sentence that matched best.")
    mark_end: int = Field(0, description="Its end (within start..end).")


@dataclass(frozen=True)
class Sentence:
    """A span of one numbered passage."""

    n: int
    start: int
    end: int
    text: str


def sentences(n: int, text: str) -> list[Sentence]:
    """The passage's sentences with their offsets; long runs cut at spaces."""
    found: list[Sentence] = []
    start = 0
    for stop in [*(m.start() for m in BOUNDARY.finditer(text)), len(text)]:
        found.extend(pieces(n, text, start, stop))
        start = stop
    return [s for s in found if WORD.search(s.text)]


def pieces(n: int, text: str, start: int, stop: int) -> list[Sentence]:
    """The span start:stop trimmed of whitespace and cut to at most MAX_SENTENCE characters."""
    out = []
    while start < stop:
        while start < stop and text[start].isspace():
            start += 1
        end = stop
        if end - start > MAX_SENTENCE:
            cut = text.rfind(" ", start, start + MAX_SENTENCE)
            end = cut if cut > start else start + MAX_SENTENCE
        trimmed = end
        while trimmed > start and text[trimmed - 1].isspace():
            trimmed -= 1
        if trimmed > start:
            out.append(Sentence(n, start, trimmed, text[start:trimmed]))
        start = end
    return out


def terms(text: str) -> set[str]:
    """Lower-cased words that carry meaning (no stop words)."""
    return {w for w in (m.lower() for m in WORD.findall(text)) if w not in STOP}


def lexical_scores(
    question: set[str], found: list[Sentence], titles: dict[int, set[str]]
) -> list[float]:
    """Per sentence: the idf weight of the question's words it holds, over all their weight.

    A sentence also holds the words of its passage's file name and section title, so a
    question that names a file ("what does hours.md say?") finds that file's sentences.
    """
    bags = [terms(s.text) | titles.get(s.n, set()) for s in found]
    total = len(found)
    idf = {t: math.log(1 + (total + 0.5) / (sum(t in b for b in bags) + 0.5)) for t in question}
    whole = sum(idf.values()) or 1.0
    return [sum(idf[t] for t in question & bag) / whole for bag in bags]


@dataclass(frozen=True)
class Scored:
    """Every sentence of the numbered passages with its score for one question."""

    found: list[Sentence]
    scores: list[float]
    lexical: list[float]
    units: dict[int, list[Unit]]  # each numbered passage's units, found once for quote and read

    def best_first(self) -> list[int]:
        """Sentence indexes, best first (ties: earlier passage, earlier in it)."""
        found, scores = self.found, self.scores
        return sorted(range(len(found)), key=lambda i: (-scores[i], found[i].n, found[i].start))


def score(question: str, passages: Sequence[Passage], embedder: Embedder | None) -> Scored:
    """Score each sentence by the question's weighted words it holds and by embedding cosine."""
    found = [s for n, p in enumerate(passages, start=1) for s in sentences(n, p.text)]
    wanted = terms(question)
    if not found or not wanted:
        return Scored(found, [0.0] * len(found), [0.0] * len(found), unit_map(passages))
    titles = {n: terms(f"{p.filename} {p.section or ''}") for n, p in enumerate(passages, 1)}
    lexical = lexical_scores(wanted, found, titles)
    scores = [LEXICAL_WEIGHT * x for x in lexical]
    if embedder is not None:
        ranked = sorted(range(len(found)), key=lambda i: (-lexical[i], found[i].n))[:EMBEDDED]
        vectors = embedder.embed([question, *(found[i].text[:EMBEDDED_CHARS] for i in ranked)])
        for i, vector in zip(ranked, vectors[1:], strict=True):
            cosine = sum(a * b for a, b in zip(vectors[0], vector, strict=True))
            scores[i] += (1 - LEXICAL_WEIGHT) * max(0.0, cosine)
    return Scored(found, scores, lexical, unit_map(passages))


def choose(passages: Sequence[Passage], scored: Scored, count: int = 1) -> list[Quote]:
    """The whole unit(s) around the best sentence(s) of the numbered passages (1-based)."""
    found, spans = scored.found, scored.units
    quotes: list[Quote] = []
    for i in scored.best_first():
        if len(quotes) == count or scored.lexical[i] == 0:
            break
        best = found[i]
        source = passages[best.n - 1]
        span = quoted_span(found, i, spans[best.n], QUOTE_CHARS, source.text)
        if span is None:
            continue
        start, end = span
        if any(q.n == best.n and q.start < end and start < q.end for q in quotes):
            continue
        page = source.page_at(best.start)
        quotes.append(Quote(n=best.n, label=label(source, page), filename=source.filename,
                            page=page, text=source.text[start:end], start=start, end=end,
                            score=round(scored.scores[i], 4), mark_start=best.start,
                            mark_end=best.end))  # fmt: skip
    return quotes


def unit_map(passages: Sequence[Passage]) -> dict[int, list[Unit]]:
    """Each numbered passage's units."""
    return {n: units(n, p.text) for n, p in enumerate(passages, start=1)}


def unit_of(sentence: Sentence, passage_units: list[Unit]) -> int:
    """The index of the unit that holds the sentence."""
    for k, unit in enumerate(passage_units):
        if unit.start <= sentence.start < unit.end:
            return k
    return 0


def quoted_span(
    found: list[Sentence], i: int, passage_units: list[Unit], limit: int, text: str
) -> tuple[int, int] | None:
    """The unit around sentence i, with the next unit when it leads in to it ("as follows:")
    or is short, and both fit, or, when the unit is longer than limit characters,
    its sentences around i that fit. A heading alone is quoted with the paragraph under it;
    a unit that states nothing (a heading, a table of contents) is not quoted (None)."""
    best = found[i]
    if not passage_units:
        return best.start, best.end
    k = unit_of(best, passage_units)
    unit = passage_units[k]
    following = passage_units[k + 1] if k + 1 < len(passage_units) else None
    if not states(text[unit.start : unit.end]):
        heading = "\n" not in text[unit.start : unit.end].strip()
        body = following is not None and states(text[following.start : following.end])
        if heading and body and following and following.end - unit.start <= limit:
            return unit.start, following.end
        return None
    if unit.end - unit.start > limit:
        return window(found, i, unit, limit)
    end = unit.end
    leads_in = found[i].text.endswith(LEADS_IN) and unit.end == best.end
    lines = text[unit.start : unit.end].split("\n")
    short = unit.end - unit.start < SHORT and not any(x.rstrip().endswith("?") for x in lines)
    if following and (leads_in or short):
        end = following.end if following.end - unit.start <= limit else end
    return unit.start, end


def states(text: str) -> bool:
    """Whether a unit states something (not only headings or a list of titles): a line that
    ends a sentence, is long, is a table row ("Room: Orwell; Seats: 13"), or holds a quantity
    ("Grade N1 to N3 3 months", "31.40 EUR"; not a title's "1.", "SECTION 3 :" or a contents
    line's page number)."""
    for line in text.split("\n"):
        words = line.split()
        if ENDS_SENTENCE.search(line.strip()) or len(words) >= STATEMENT_WORDS:
            return True
        if line.count(": ") >= 2 and "; " in line:
            return True
        pairs = pairwise(words[1:])  # not a title's own number ("2. Annual Leave")
        if any(any(c.isdigit() for c in a) and b[:1].isalpha() for a, b in pairs):
            return True
    return False


def window(found: list[Sentence], i: int, unit: Unit, limit: int) -> tuple[int, int]:
    """The sentences of the unit around sentence i, the later first, within limit chars."""
    inside = [j for j, s in enumerate(found) if s.n == unit.n and unit.start <= s.start < unit.end]
    low = high = inside.index(i)
    start, end = found[i].start, found[i].end
    grew = True
    while grew:
        grew = False
        if high + 1 < len(inside) and found[inside[high + 1]].end - start <= limit:
            high += 1
            end = found[inside[high]].end
            grew = True
        if low > 0 and end - found[inside[low - 1]].start <= limit:
            low -= 1
            start = found[inside[low]].start
            grew = True
    return start, end


def excerpts(
    passages: Sequence[Passage], scored: Scored, budget: int, count: Callable[[str], int]
) -> dict[int, str]:
    """Per passage number, what the model reads of it: its best units, whole (a unit too long
    for what is left: its best sentences that fit), in document order (verbatim; gaps shown
    as …), all passages together within budget tokens."""
    found, spans = scored.found, scored.units
    chosen: list[tuple[int, int, int]] = []  # (n, start, end)
    used = 0
    for i in scored.best_first():
        if scored.scores[i] <= 0 or used >= budget:
            break
        best = found[i]
        if any(n == best.n and start <= best.start < end for n, start, end in chosen):
            continue
        text = passages[best.n - 1].text
        span = quoted_span(found, i, spans[best.n], len(text), text)
        if span is None:
            continue
        start, end = span
        cost = count(text[start:end])
        if used + cost > budget:
            chars = (budget - used) * max(1, len(text[start:end]) // max(1, cost))
            start, end = window(found, i, Unit(best.n, start, end), chars)
            cost = count(text[start:end])
            if used + cost > budget:
                continue
        chosen.append((best.n, start, end))
        used += cost
    shown: dict[int, str] = {}
    last_end: dict[int, int] = {}
    for n, start, end in sorted(chosen):
        text = passages[n - 1].text
        if n not in shown:
            shown[n] = "" if start == 0 else "… "
        elif text[last_end[n] : start].strip():
            shown[n] += " … "
        else:
            shown[n] += text[last_end[n] : start]
        shown[n] += text[max(start, last_end.get(n, 0)) : end]
        last_end[n] = max(end, last_end.get(n, 0))
    return {n: shown[n] for n in sorted(shown)}


def label(passage: Passage, page: int | None = None) -> str:
    """'file, p. 3' for citations ('pp. 3-4' for a passage across pages), or 'file, p. 4' for
    the part of it on page 4."""
    if page is not None:
        return f"{passage.filename}, p. {page}"
    if passage.page and passage.last_page and passage.last_page != passage.page:
        return f"{passage.filename}, pp. {passage.page}-{passage.last_page}"
    return f"{passage.filename}, p. {passage.page}" if passage.page else passage.filename
