"""Group parsed blocks into chunks of about a target size, keeping page and section."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from ingest.parse import Block

SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+|\n+")


@dataclass(frozen=True)
class Chunk:
    """A passage to embed and index; n is its position in the document."""

    n: int
    text: str
    page: int | None
    section: str | None


def chunk_blocks(blocks: list[Block], max_chars: int = 1000) -> list[Chunk]:
    """Pack blocks into chunks of at most max_chars, starting afresh at a new section and at a
    new page, so that a citation's page is where its text is. A scrap (under a tenth of
    max_chars: a running header, a page's last line) joins the next chunk, which is labelled
    with the page that holds most of its text."""
    chunks: list[Chunk] = []
    parts: list[str] = []
    first: Block | None = None
    size = 0
    on_page: dict[int | None, int] = {}

    def flush() -> None:
        nonlocal parts, first, size
        if parts and first is not None:
            page = max(on_page, key=lambda p: on_page[p])  # the first of equals
            chunks.append(Chunk(len(chunks), "\n".join(parts), page, first.section))
        parts, first, size = [], None, 0
        on_page.clear()

    for block in blocks:
        new_section = first is not None and block.section != first.section
        new_page = first is not None and block.page != first.page and block.page not in on_page
        if (new_section and size >= max_chars // 4) or (new_page and size >= max_chars // 10):
            flush()
        for piece in split_text(block.text, max_chars):
            if parts and size + len(piece) + 1 > max_chars:
                flush()
            if first is None:
                first = block
            parts.append(piece)
            size += len(piece) + 1
            on_page[block.page] = on_page.get(block.page, 0) + len(piece) + 1
    flush()
    return chunks


def split_text(text: str, max_chars: int) -> Iterator[str]:
    """Cut text longer than max_chars at sentence ends, else at spaces, else hard."""
    if len(text) <= max_chars:
        yield text
        return
    current = ""
    for sentence in SENTENCE_END.split(text):
        for word_run in hard_split(sentence, max_chars):
            if current and len(current) + len(word_run) + 1 > max_chars:
                yield current
                current = ""
            current = f"{current} {word_run}" if current else word_run
    if current:
        yield current


def hard_split(text: str, max_chars: int) -> Iterator[str]:
    """Split at spaces into runs of at most max_chars; cut words longer than that."""
    run = ""
    for word in text.split():
        while len(word) > max_chars:
            if run:
                yield run
                run = ""
            yield word[:max_chars]
            word = word[max_chars:]
        if run and len(run) + len(word) + 1 > max_chars:
            yield run
            run = ""
        run = f"{run} {word}" if run else word
    if run:
        yield run
