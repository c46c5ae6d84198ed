"""Chunking keeps pages and sections and respects the size limit."""

from __future__ import annotations

from ingest.chunk import chunk_blocks, split_text
from ingest.parse import Block


def test_small_blocks_of_a_page_are_packed_and_keep_their_page_and_section() -> None:
    blocks = [
        Block("Intro", 1, "Intro"),
        Block("a " * 100, 1, "Intro"),
        Block("b " * 100, 1, "Intro"),
    ]
    chunks = chunk_blocks(blocks, max_chars=1000)
    assert len(chunks) == 1
    assert chunks[0].page == 1 and chunks[0].section == "Intro"
    assert chunks[0].text.startswith("Intro\n")


def test_a_new_page_starts_a_new_chunk_and_a_scrap_joins_the_page_it_leads_into() -> None:
    blocks = [
        Block("a " * 100, 1, "Intro"),
        Block("b " * 100, 2, "Intro"),
        Block("Page 2 of 3", 2, "Intro"),  # a footer: a scrap of its page
        Block("c " * 100, 3, "Intro"),
        Block("d " * 30, 3, "Intro"),
    ]
    chunks = chunk_blocks(blocks, max_chars=1000)
    assert [c.page for c in chunks] == [1, 2, 3]
    assert chunks[1].text.endswith("Page 2 of 3") and chunks[2].text.startswith("c c")
    scrap = chunk_blocks([Block("p. 7", 7, None), Block("x " * 100, 8, None)], max_chars=1000)
    assert [(c.page, c.text[:4]) for c in scrap] == [(8, "p. 7")]  # most of it is on page 8


def test_new_section_starts_a_new_chunk_once_the_current_one_is_substantial() -> None:
    blocks = [Block("x " * 200, 1, "One"), Block("Two", 3, "Two"), Block("y " * 50, 3, "Two")]
    chunks = chunk_blocks(blocks, max_chars=1000)
    assert [c.section for c in chunks] == ["One", "Two"]
    assert [c.page for c in chunks] == [1, 3]
    assert [c.n for c in chunks] == [0, 1]


def test_no_chunk_exceeds_the_limit_and_no_text_is_lost() -> None:
    sentence = "The quick brown fox jumps over the lazy dog. "
    long_word = "z" * 2500
    blocks = [Block(sentence * 80, 1, None), Block(long_word, 2, None)]
    chunks = chunk_blocks(blocks, max_chars=500)
    assert all(len(c.text) <= 500 for c in chunks)
    joined = "".join(c.text.replace("\n", "").replace(" ", "") for c in chunks)
    assert joined == (sentence * 80 + long_word).replace(" ", "")


def test_split_text_prefers_sentence_ends() -> None:
    pieces = list(split_text("One two three. Four five six. Seven eight nine.", 30))
    assert pieces == ["One two three. Four five six.", "Seven eight nine."]


def test_chunking_is_deterministic() -> None:
    blocks = [Block(f"para {i} " * 30, i // 5 + 1, f"S{i // 7}") for i in range(40)]
    assert chunk_blocks(blocks, 700) == chunk_blocks(blocks, 700)
