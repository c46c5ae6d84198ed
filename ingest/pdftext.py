"""Text PDFs read by pdfium: each line with its font and place, grouped into paragraphs, list
items and titles; running headers and footers (a line repeated at the top or bottom of most
pages) left out.

pdfium (C++, through pypdfium2) extracts a page's text in about two milliseconds, where
pdfminer's layout analysis, which unstructured's "fast" strategy runs, took some 70 ms; the
grouping below reads each line's font (the height of its glyph boxes, its weight or name) and
place instead of guessing titles from the words (bench/pdf_parse.py compares the two).
"""

from __future__ import annotations

import ctypes
import re
import statistics
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

MAX_TITLE_CHARS = 200
MAX_TITLE_WORDS = 16
# A line that starts one of these opens a list item (the bullet glyph itself is dropped).
BULLETS = "•◦▪▫●○■□►▸‣\u2043∙·\u2013\u2014-*\uf0b7\uf0a7\uf076\uf0d8\uf0fc"  # dashes too
NUMBERED = re.compile(r"^(\(?\d{1,3}[.)]|\(?[a-zA-Z][.)]|\(?[ivxIVX]{1,4}[.)])\s")
DIGITS = re.compile(r"\d+")
BOLD_NAMES = ("bold", "black", "heavy", "semibold", "demibold")
REPEATED_SHARE = 0.5  # a line on at least this share of the pages, at their edge, is furniture
HYPHEN_JOIN = "\ufffe"  # pdfium's mark where it joined a word hyphenated across two rows
EDGE_LINES = 6  # lines at a page's top and at its bottom that may be furniture


@dataclass
class Line:
    """One line of a page: its text, where it sits (PDF points, y up) and its font."""

    text: str
    page: int
    left: float
    right: float
    top: float
    bottom: float
    size: float
    bold: bool


@dataclass(frozen=True)
class Piece:
    """A paragraph, list item or title of a page; `title` marks a section heading."""

    text: str
    page: int
    title: bool


def read_pieces(path: Path) -> list[Piece]:
    """The PDF's text as pieces in reading order (pdfium's, the order of the content stream)."""
    pages = list(read_lines(path))
    furniture = running_lines(pages)
    lines = [line for page in pages for line in without(page, furniture)]
    return group(lines, body_size(lines))


def read_lines(path: Path) -> Iterator[list[Line]]:
    """Each page's lines, page by page."""
    import pypdfium2

    document = pypdfium2.PdfDocument(path)
    try:
        for index in range(len(document)):
            page = document[index]
            try:
                text_page = page.get_textpage()
                try:
                    yield page_lines(text_page, index + 1)
                finally:
                    text_page.close()
            finally:
                page.close()
    finally:
        document.close()


def page_lines(text_page: Any, number: int) -> list[Line]:
    """The lines of one page: pdfium ends each with a generated CR LF."""
    import pypdfium2.raw as pdfium

    count = text_page.count_chars()
    text = text_page.get_text_range() if count else ""
    if len(text) != count:  # pdfium left out or added a char: read them one by one
        text = "".join(chr(pdfium.FPDFText_GetUnicode(text_page.raw, i) or 32)
                       for i in range(count))  # fmt: skip
    lines: list[Line] = []
    start = 0
    for found in re.finditer(r"\r?\n|$", text):
        end = found.start()
        line = make_line(text_page, text, start, end, number)
        if line is not None:
            lines.append(line)
        start = found.end()
        if start >= len(text):
            break
    return same_rows(lines)


def make_line(text_page: Any, text: str, start: int, end: int, number: int) -> Line | None:
    """The line of chars start..end, with its box and font; None when it is blank. Its height
    is its first char's (a line that pdfium joined across a hyphen ends on the next row), and
    its size the height of its chars' font boxes (the font size pdfium reports leaves out the
    text matrix, so a LaTeX PDF sets everything "1 pt")."""
    raw = text[start:end]
    stripped = raw.strip()
    if not stripped:
        return None
    first = start + (len(raw) - len(raw.lstrip()))
    last = start + len(raw.rstrip()) - 1
    left, bottom, _, top = text_page.get_charbox(first, loose=True)
    _, last_bottom, right, _ = text_page.get_charbox(last, loose=True)
    if HYPHEN_JOIN in raw:  # two rows joined: the line ends where the second one does
        bottom = min(bottom, last_bottom)
    middle = first + (last - first) // 2
    samples = [i for i in sorted({first, middle, last}) if not text[i].isspace()]
    return Line(
        text=" ".join(stripped.replace(HYPHEN_JOIN, "").replace("\x02", "").split()),
        page=number,
        left=left,
        right=right,
        top=top,
        bottom=bottom,
        size=statistics.median(height(text_page, i) for i in samples),
        bold=all(bold(text_page, i) for i in samples),
    )


def height(text_page: Any, index: int) -> float:
    """The height of the char's font box, to half a point."""
    _, bottom, _, top = text_page.get_charbox(index, loose=True)
    return round((top - bottom) * 2) / 2


def bold(text_page: Any, index: int) -> bool:
    """Whether the char's font is bold, by its weight or its name."""
    import pypdfium2.raw as pdfium

    if pdfium.FPDFText_GetFontWeight(text_page.raw, index) >= 600:
        return True
    name = ctypes.create_string_buffer(128)
    flags = ctypes.c_int()
    pdfium.FPDFText_GetFontInfo(text_page.raw, index, name, len(name), ctypes.byref(flags))
    return any(word in name.value.decode("latin-1").lower() for word in BOLD_NAMES)


def same_rows(lines: list[Line]) -> list[Line]:
    """Lines that pdfium split on one row (a superscript moves the baseline) joined again."""
    joined: list[Line] = []
    for line in lines:
        last = joined[-1] if joined else None
        overlap = min(line.top, last.top) - max(line.bottom, last.bottom) if last else 0.0
        if last and line.left >= last.right - 1 and overlap > 0.5 * min(line.size, last.size):
            longer = last if len(last.text) >= len(line.text) else line
            joined[-1] = replace(last, text=f"{last.text} {line.text}", right=line.right,
                                 size=longer.size, bold=last.bold and line.bold)  # fmt: skip
        else:
            joined.append(line)
    return joined


def shape(line: Line) -> str:
    """A line with its numbers blanked: "Page 3 of 9" and "Page 4 of 9" have one shape. Not
    its height: a document's footer moves with its sections' margins (the 400-page handbook's
    sits at three heights)."""
    return DIGITS.sub("#", line.text.lower())


def edges(page: list[Line]) -> list[Line]:
    """The lines at a page's top and bottom, where running headers and footers sit."""
    if len(page) <= 2 * EDGE_LINES:
        return page
    return page[:EDGE_LINES] + page[-EDGE_LINES:]


def running_lines(pages: list[list[Line]]) -> set[str]:
    """Shapes of lines found at the edge of at least half the pages (three at least)."""
    if len(pages) < 3:
        return set()
    seen: Counter[str] = Counter()
    for page in pages:
        seen.update({shape(line) for line in edges(page)})
    least = max(3, REPEATED_SHARE * len(pages))
    return {text for text, times in seen.items() if times >= least}


def without(page: list[Line], furniture: set[str]) -> list[Line]:
    """The page less the runs of furniture lines that start and end it."""
    start, end = 0, len(page)
    while start < min(end, EDGE_LINES) and shape(page[start]) in furniture:
        start += 1
    while end > max(start, len(page) - EDGE_LINES) and shape(page[end - 1]) in furniture:
        end -= 1
    return page[start:end]


def body_size(lines: list[Line]) -> float:
    """The font size most of the text is set in."""
    sizes: Counter[float] = Counter()
    for line in lines:
        sizes[line.size] += len(line.text)
    return sizes.most_common(1)[0][0] if sizes else 0.0


def group(lines: list[Line], body: float) -> list[Piece]:
    """Join the lines that continue a paragraph; a list item, a title, a change of font, a
    gap between lines wider than the lines' own spacing, or a new page starts a new piece."""
    pieces: list[Piece] = []
    current: list[Line] = []
    for line in lines:
        if current and not continues(current, line):
            pieces.append(piece(current, body))
            current = []
        current.append(line)
    if current:
        pieces.append(piece(current, body))
    return pieces


def continues(current: list[Line], line: Line) -> bool:
    """Whether the line goes on the paragraph that current holds."""
    last = current[-1]
    if line.page != last.page or opens_item(line.text):
        return False
    if abs(line.size - last.size) > 0.5 or line.bold != last.bold:
        return False
    gap = last.bottom - line.top  # positive: the line sits below the last one
    if gap < -0.5 * last.size or gap > 0.8 * last.size:  # went up (a column), or a wide gap
        return False
    if len(current) > 1:  # a gap wider than the paragraph's own spacing so far
        spacing = current[-2].bottom - last.top
        if gap > spacing + 0.3 * last.size:
            return False
    return True


def opens_item(text: str) -> bool:
    """Whether a line starts a list item: a bullet, or a number or letter and a stop."""
    return (text[:1] in BULLETS and text[1:2] in {" ", ""}) or bool(NUMBERED.match(text))


def piece(lines: list[Line], body: float) -> Piece:
    """The lines joined into one text (a hyphen at a line's end joins the next word), marked
    as a title when it is short, mostly letters, does not end a sentence and is set larger or
    bolder than the body."""
    text = lines[0].text
    for line in lines[1:]:
        text += line.text if text.endswith("-") else " " + line.text
    if text[:1] in BULLETS and text[1:2] == " ":
        text = text[2:]
    first = lines[0]
    heading = first.size >= body + 1.0 or (first.bold and first.size >= body - 0.5)
    title = (
        heading
        and len(text) <= MAX_TITLE_CHARS
        and len(text.split()) <= MAX_TITLE_WORDS
        and not text.endswith((".", ",", ";"))
        and 2 * sum(c.isalpha() for c in text) >= len(text.replace(" ", ""))
    )
    return Piece(text=text, page=first.page, title=title)
