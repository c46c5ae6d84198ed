"""Text PDFs read by pdfium (ingest.pdftext): paragraphs, titles, list items, furniture."""

from __future__ import annotations

from pathlib import Path

from ingest.parse import parse_file
from ingest.pdftext import read_pieces
from tests.pdfs import styled_pdf

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 1 << 30
BODY = [
    "Staff who travel for work book their trains through the travel desk",
    "at least five working days ahead, and keep every receipt for the",
    "claim they file within one month of their return.",
]


def paragraph(lines: list[str], top: float, size: float = 11, pitch: float = 13) -> list:
    """Lines of one paragraph, each `pitch` points below the last."""
    return [(text, size, False, top - i * pitch) for i, text in enumerate(lines)]


def write(tmp_path: Path, pages: list[list]) -> Path:
    path = tmp_path / "policy.pdf"
    path.write_bytes(styled_pdf(pages))
    return path


def test_lines_of_a_paragraph_join_and_a_bold_heading_opens_a_section(tmp_path: Path) -> None:
    page = [("Travel and expenses", 16, True, 720), *paragraph(BODY, 690)]
    page += paragraph(["Meals abroad are paid at the daily rate of the country."], 630)
    pieces = read_pieces(write(tmp_path, [page]))
    assert [(p.text, p.title) for p in pieces] == [
        ("Travel and expenses", True),
        (" ".join(BODY), False),  # three lines, one paragraph
        ("Meals abroad are paid at the daily rate of the country.", False),  # a wider gap
    ]
    blocks = parse_file(tmp_path / "policy.pdf", "policy.pdf", LIMIT).blocks
    assert [b.section for b in blocks] == ["Travel and expenses"] * 3
    assert {b.page for b in blocks} == {1}


def test_each_list_item_is_its_own_piece_and_loses_its_bullet(tmp_path: Path) -> None:
    lines = ["Bring to the meeting:", "\x95 your badge", "\x95 the signed form", "1. Sign in.",
             "2. Wait at reception until", "someone collects you."]  # fmt: skip
    pieces = read_pieces(write(tmp_path, [paragraph(lines, 700)]))
    assert [p.text for p in pieces] == [
        "Bring to the meeting:",
        "your badge",
        "the signed form",
        "1. Sign in.",
        "2. Wait at reception until someone collects you.",
    ]
    assert not any(p.title for p in pieces)


def test_a_sentence_or_a_number_set_large_is_no_title(tmp_path: Path) -> None:
    page = [("The office closes at six.", 16, True, 720), ("17,500", 16, True, 670),
            ("A. PURPOSE", 14, True, 620), *paragraph(BODY, 590)]  # fmt: skip
    titles = [p.text for p in read_pieces(write(tmp_path, [page])) if p.title]
    assert titles == ["A. PURPOSE"]


def test_running_header_and_page_numbers_are_left_out_but_the_same_words_in_the_body_stay(
    tmp_path: Path,
) -> None:
    pages = []
    rules = ["Lights off by ten.", "Vans back by six.", "Gates shut at eight.", "No dogs."]
    for number, rule in enumerate(rules, start=1):
        body = paragraph([f"Rule {number}: {rule}", BODY[0]], 700)
        if number == 2:
            body += paragraph(["The Depot Handbook says so, in words."], 640)
        pages.append(
            [("The Depot Handbook", 9, False, 760), *body, (f"Page {number}", 9, False, 40)]
        )
    pieces = read_pieces(write(tmp_path, pages))
    texts = [p.text for p in pieces]
    assert "The Depot Handbook" not in texts
    assert not any(t.startswith("Page ") for t in texts)
    assert "The Depot Handbook says so, in words." in texts
    assert [p.page for p in pieces if p.text.startswith("Rule")] == [1, 2, 3, 4]


def test_a_paragraph_that_runs_over_a_page_break_is_cut_there(tmp_path: Path) -> None:
    pages = [paragraph(BODY[:2], 100), paragraph(BODY[2:], 720)]
    pieces = read_pieces(write(tmp_path, pages))
    assert [(p.page, p.text) for p in pieces] == [(1, " ".join(BODY[:2])), (2, BODY[2])]


def test_a_third_party_handbook_reads_with_its_numbered_sections() -> None:
    pdf = ROOT / "tests" / "eval" / "handbooks" / "HR_Policy.pdf"
    blocks = parse_file(pdf, pdf.name, LIMIT).blocks
    holidays = next(b for b in blocks if b.text.startswith("4.1 We recognise all gazetted"))
    assert holidays.section == "4. PUBLIC HOLIDAYS"
    assert holidays.page == 5
    # its page numbers, alone at the foot of its 49 pages (of the last two, lower), are not
    # blocks of their own
    assert not [b.page for b in blocks if b.text.isdigit()]
