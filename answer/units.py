"""Answering units: the whole pieces of a passage a person reads as one (a paragraph, a list
item, a table row, an FAQ entry, a heading with its first paragraph).

A passage's text keeps its parsed elements on their own lines. A unit is a run of lines: a
line that is only a paragraph number ("3.4", "(b)") belongs to the line after it; a line that
stops mid-sentence and is followed by one that starts in lower case is the same paragraph
broken by the page layout; a heading or question (short, no full stop) belongs with the line
after it. Units never cross passages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NUMBERING = re.compile(r"^\(?(?:\d+(?:\.\d+)*\.?|[a-zA-Z]|[ivxIVX]+)[.)]?$")
ENDS_SENTENCE = re.compile(r"[.!;]['\"\u201d\u2019)\]]*$")
HEADING_CHARS = 90  # a line shorter than this without a full stop heads what follows it


@dataclass(frozen=True)
class Unit:
    """A span of one numbered passage: `text[start:end]` of it."""

    n: int
    start: int
    end: int


def lines(text: str) -> list[tuple[int, int]]:
    """The (start, end) of each non-blank line of text, trimmed."""
    spans = []
    at = 0
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped:
            lead = at + len(line) - len(line.lstrip())
            spans.append((lead, lead + len(stripped)))
        at += len(line) + 1
    return spans


def joins_next(line: str, following: str) -> bool:
    """Whether a line and the next one are one unit."""
    if NUMBERING.match(line):
        return True
    if following[:1].islower() and not ENDS_SENTENCE.search(line):
        return True  # a paragraph broken across lines
    heading = len(line) < HEADING_CHARS and not ENDS_SENTENCE.search(line)
    return heading and not NUMBERING.match(following)


def units(n: int, text: str) -> list[Unit]:
    """The units of passage n's text, in order."""
    spans = lines(text)
    said = [text[start:end] for start, end in spans]
    found: list[Unit] = []
    i = 0
    while i < len(spans):
        start, end = spans[i]
        while i + 1 < len(spans) and joins_next(said[i], said[i + 1]):
            i += 1
            end = spans[i][1]
        found.append(Unit(n, start, end))
        i += 1
    return found
