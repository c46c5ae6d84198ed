"""The quote and the excerpts: source sentences that most likely answer, chosen without the model.

Every sentence of the retrieved passages is scored by the question's rare words it contains
(idf-weighted, over those sentences) and by its embedding's cosine to the question's. The best
one, widened to its neighbour when it is short, is the quote shown verbatim at once with file
and page; the best ones with their neighbours, up to a token budget, are what the model reads.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, Field

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
SHORT = 90  # a best sentence shorter than this is widened to its neighbour
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

    def best_first(self) -> list[int]:
        """Sentence indexes, best first (ties: earlier passage, earlier in it)."""
        found, scores = self.found, self.scores
        return sorted(range(len(found)), key=lambda i: (-scores[i], found[i].n, found[i].start))


def score(question: str, passages: Sequence[Passage], embedder: Embedder | None) -> Scored:
    """Score each sentence by the question's weighted words it holds and by embedding cosine."""
    found = [s for n, p in enumerate(passages, start=1) for s in sentences(n, p.text)]
    wanted = terms(question)
    if not found or not wanted:
        return Scored(found, [0.0] * len(found), [0.0] * len(found))
    titles = {n: terms(f"{p.filename} {p.section or ''}") for n, p in enumerate(passages, 1)}
    lexical = lexical_scores(wanted, found, titles)
    scores = [LEXICAL_WEIGHT * x for x in lexical]
    if embedder is not None:
        ranked = sorted(range(len(found)), key=lambda i: (-lexical[i], found[i].n))[:EMBEDDED]
        vectors = embedder.embed([question, *(found[i].text[:EMBEDDED_CHARS] for i in ranked)])
        for i, vector in zip(ranked, vectors[1:], strict=True):
            cosine = sum(a * b for a, b in zip(vectors[0], vector, strict=True))
            scores[i] += (1 - LEXICAL_WEIGHT) * max(0.0, cosine)
    return Scored(found, scores, lexical)


def choose(passages: Sequence[Passage], scored: Scored, count: int = 1) -> list[Quote]:
    """The best sentence window(s) of the numbered passages (1-based, in order)."""
    found = scored.found
    quotes: list[Quote] = []
    for i in scored.best_first():
        if len(quotes) == count or scored.lexical[i] == 0:
            break
        window = widen(found, i)
        if any(q.n == window.n and q.start < window.end and window.start < q.end for q in quotes):
            continue
        source = passages[window.n - 1]
        text = source.text[window.start : window.end]
        page = source.page_at(window.start)
        quotes.append(Quote(n=window.n, label=label(source, page), filename=source.filename,
                            page=page, text=text, start=window.start,
                            end=window.end, score=round(scored.scores[i], 4)))  # fmt: skip
    return quotes


def excerpts(
    passages: Sequence[Passage], scored: Scored, budget: int, count: Callable[[str], int]
) -> dict[int, str]:
    """Per passage number, what the model reads of it: its best sentences with their neighbours,
    in document order (verbatim; gaps shown as …), all passages together within budget tokens."""
    found = scored.found
    chosen: set[int] = set()
    used = 0
    for i in scored.best_first():
        if scored.scores[i] <= 0:
            break
        around = [j for j in (i, i - 1, i + 1) if 0 <= j < len(found) and found[j].n == found[i].n]
        for j in around:
            cost = count(found[j].text)
            if j not in chosen and used + cost <= budget:
                chosen.add(j)
                used += cost
        if used >= budget:
            break
    shown: dict[int, str] = {}
    for j in sorted(chosen):
        sentence, text = found[j], passages[found[j].n - 1].text
        if sentence.n not in shown:
            shown[sentence.n] = "" if sentence.start == 0 else "… "
        elif j - 1 not in chosen:
            shown[sentence.n] += " … "
        else:
            shown[sentence.n] += text[found[j - 1].end : sentence.start]
        shown[sentence.n] += sentence.text
    return {n: shown[n] for n in sorted(shown)}


def widen(found: list[Sentence], i: int) -> Sentence:
    """The sentence, joined with the next one of its passage when it is short on its own."""
    best = found[i]
    if len(best.text) >= SHORT or i + 1 == len(found) or found[i + 1].n != best.n:
        return best
    nxt = found[i + 1]
    if nxt.end - best.start > MAX_SENTENCE:
        return best
    return Sentence(best.n, best.start, nxt.end, f"{best.text} {nxt.text}")


def label(passage: Passage, page: int | None = None) -> str:
    """'file, p. 3' for citations ('pp. 3-4' for a passage across pages), or 'file, p. 4' for
    the part of it on page 4."""
    if page is not None:
        return f"{passage.filename}, p. {page}"
    if passage.page and passage.last_page and passage.last_page != passage.page:
        return f"{passage.filename}, pp. {passage.page}-{passage.last_page}"
    return f"{passage.filename}, p. {passage.page}" if passage.page else passage.filename
