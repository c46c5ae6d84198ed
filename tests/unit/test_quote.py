"""The quote: the best source sentence(s), verbatim, chosen without the model."""

from __future__ import annotations

from answer.quote import MAX_SENTENCE, QUOTE_CHARS, choose, excerpts, label, score, sentences
from answer.rag import merge_neighbours
from answer.units import units
from ingest.passage import Passage
from tests.fakes import HashEmbedder

POLICY_2023 = (
    "Travel policy 2023. Employees may claim 0.30 EUR per kilometre for private cars. "
    "Receipts are kept for seven years."
)
POLICY_2024 = (
    "Travel policy 2024. Meals abroad are refunded up to 45 EUR a day. The mileage "
    "allowance for a private car is 0.35 EUR per kilometre from 1 March 2024. Trains go first."
)


def passage(text: str, page: int | None = 1, name: str = "travel.pdf") -> Passage:
    """A retrieved passage."""
    return Passage(document_id=name, chunk=0, collection="c", filename=name, text=text, page=page)


def test_the_answering_sentence_wins_among_look_alikes_and_is_verbatim() -> None:
    passages = [passage(POLICY_2023, name="2023.pdf"), passage(POLICY_2024, name="2024.pdf")]
    question = "What is the mileage allowance for a private car?"
    [quote] = choose(passages, score(question, passages, HashEmbedder()))
    assert quote.n == 2 and quote.label == "2024.pdf, p. 1"
    assert "0.35 EUR per kilometre" in quote.text
    assert passages[1].text[quote.start : quote.end] == quote.text


def test_the_quote_is_the_whole_paragraph_with_the_matching_sentence_marked() -> None:
    text = (
        "Parking. Staff park north. Visitors use the south car park near the main gate on Dock "
        "Road.\nLunch."
    )
    [quote] = choose([passage(text)], score("Where do staff park?", [passage(text)], None))
    assert quote.text == text.split("\n")[0]
    assert text[quote.mark_start : quote.mark_end] == "Staff park north."


# As unstructured reads a real staff handbook (PDF): paragraph numbers on their own line, a
# paragraph broken by the layout, headings.
HANDBOOK = (
    "3.6\nUpon leaving, staff are to conduct a proper clearance with Human Resources.\n4.\n"
    "PUBLIC HOLIDAYS\n4.1 We recognise all gazetted public holidays in Singapore.\n"
    "4.2 Where a public holiday falls on a staff\u2019s rest day (i.e. Sunday), the following "
    "Monday\nshall be considered a paid holiday.\n4.3 Where a public holiday falls on a "
    "non-working day, staff shall be given a day off as substitution for that holiday."
)


def test_units_join_numbers_broken_lines_and_headings_to_what_they_belong_to() -> None:
    found = [HANDBOOK[u.start : u.end] for u in units(1, HANDBOOK)]
    assert found[0].startswith("3.6\nUpon leaving")
    assert (
        found[1]
        == "4.\nPUBLIC HOLIDAYS\n4.1 We recognise all gazetted public holidays in Singapore."
    )
    assert found[2].startswith("4.2 Where") and found[2].endswith("paid holiday.")
    assert found[3].startswith("4.3 Where") and len(found) == 4


def test_the_quote_is_the_unit_that_answers_with_its_broken_line() -> None:
    question = "What happens when a public holiday falls on a rest day (Sunday)?"
    [quote] = choose([passage(HANDBOOK)], score(question, [passage(HANDBOOK)], HashEmbedder()))
    assert quote.text.startswith("4.2 Where") and quote.text.endswith("a paid holiday.")
    assert HANDBOOK[quote.start : quote.end] == quote.text
    assert quote.start <= quote.mark_start < quote.mark_end <= quote.end


def test_an_faq_question_is_quoted_with_its_answer() -> None:
    faq = (
        "How do I reset my password?\nOpen Settings and choose Reset; a code comes by SMS.\n"
        "Can I change my user name?\nNo: user names are fixed once the account exists."
    )
    [quote] = choose([passage(faq)], score("How can I reset a password?", [passage(faq)], None))
    assert (
        quote.text
        == "How do I reset my password?\nOpen Settings and choose Reset; a code comes by SMS."
    )


def test_nothing_is_quoted_when_no_word_of_the_question_is_there() -> None:
    policy = [passage(POLICY_2024)]
    assert choose(policy, score("Quelle est la capitale?", policy, HashEmbedder())) == []
    assert choose(policy, score("?", policy, HashEmbedder())) == []
    assert choose([], score("mileage", [], HashEmbedder())) == []


def test_one_huge_line_still_gives_bounded_sentences() -> None:
    line = " ".join(f"word{i}" for i in range(6000)) + " mileage allowance 0.35 EUR"
    found = sentences(1, line)
    assert all(len(s.text) <= MAX_SENTENCE for s in found) and len(found) > 50
    assert all(line[s.start : s.end] == s.text for s in found)
    [quote] = choose([passage(line)], score("mileage allowance", [passage(line)], HashEmbedder()))
    assert "mileage allowance" in quote.text and len(quote.text) <= QUOTE_CHARS
    assert line[quote.mark_start : quote.mark_end].endswith("mileage allowance 0.35 EUR")


def words(text: str) -> int:
    """One token per word, for budgets."""
    return len(text.split())


def test_excerpts_are_whole_units_in_document_order_within_the_budget() -> None:
    passages = [passage(POLICY_2023, name="2023.pdf"), passage(POLICY_2024, name="2024.pdf")]
    scored = score("What is the mileage allowance for a private car?", passages, HashEmbedder())
    shown = excerpts(passages, scored, 30, words)
    assert sum(words(text) for text in shown.values()) <= 30
    assert "0.35 EUR per kilometre from 1 March 2024." in shown[2]
    everything = excerpts(passages, scored, 10_000, words)
    assert everything == {1: POLICY_2023, 2: POLICY_2024}  # verbatim when the budget allows
    question = "What happens when a public holiday falls on a rest day (Sunday)?"
    handbook = [passage(HANDBOOK)]
    read = excerpts(handbook, score(question, handbook, HashEmbedder()), 40, words)
    assert "4.2 Where a public holiday falls on a staff\u2019s rest day" in read[1]
    assert "the following Monday\nshall be considered a paid holiday." in read[1]  # whole
    assert read[1].index("4.1 We") < read[1].index("4.2 Where") if "4.1 We" in read[1] else True


def test_a_quote_from_a_passage_across_pages_names_the_page_it_is_on() -> None:
    first = passage("Deliveries arrive by the north gate and are signed for at the desk.", page=3)
    second = passage(POLICY_2024, page=4).model_copy(
        update={"chunk": 1, "document_id": first.document_id}
    )
    [merged] = merge_neighbours([first, second])
    assert label(merged) == "travel.pdf, pp. 3-4" and merged.page == 3
    question = "What is the mileage allowance for a private car?"
    [quote] = choose([merged], score(question, [merged], HashEmbedder()))
    assert (quote.page, quote.label) == (4, "travel.pdf, p. 4")
    assert merged.text[quote.start : quote.end] == quote.text
    assert merged.page_at(0) == 3 and merged.page_at(len(merged.text) - 1) == 4


def test_a_short_list_item_is_quoted_with_the_next_and_a_table_row_is_a_statement() -> None:
    steps = passage(
        "Complaints\nAcknowledge the complaint to the customer within 24 hours.\n"
        "Investigate and send a written response within 10 working days.\nClose it in the log."
    )
    question = "Within how long must a customer complaint be acknowledged?"
    [quote] = choose([steps], score(question, [steps], HashEmbedder()))
    assert quote.text.endswith("within 10 working days.") and "24 hours" in quote.text
    rooms = passage("Room: Orwell; Floor: 1; Seats: 13; Equipment: Projector, whiteboard")
    [row] = choose([rooms], score("What equipment has the Orwell room?", [rooms], None))
    assert row.text == rooms.text


def test_a_table_of_contents_is_not_quoted_and_a_heading_comes_with_its_paragraph() -> None:
    contents = passage(
        "SECTION 3 : REMUNERATION\n1. Pay Day\n2. Annual Wage Supplement\n"
        "6. Industrial Relations Allowance\n7. Overtime Pay"
    )
    body = passage(
        "INDUSTRIAL RELATIONS ALLOWANCE\n\n6.1 The Industrial Relations allowance is $200 a "
        "month for staff at Grade N3 and $240 at Grade N4.",
        name="hr.pdf",
    )
    question = "What is the industrial relations allowance?"
    [quote] = choose([contents, body], score(question, [contents, body], HashEmbedder()))
    assert quote.n == 2 and quote.text.startswith("INDUSTRIAL RELATIONS ALLOWANCE\n\n6.1 The")
    assert quote.text.endswith("$240 at Grade N4.")
    only = [contents]
    assert choose(only, score(question, only, HashEmbedder())) == []
    assert excerpts(only, score(question, only, HashEmbedder()), 100, words) == {}
