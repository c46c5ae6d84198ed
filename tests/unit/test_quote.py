"""The quote: the best source sentence(s), verbatim, chosen without the model."""

from __future__ import annotations

from answer.quote import MAX_SENTENCE, choose, excerpts, label, score, sentences
from answer.rag import merge_neighbours
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


def test_a_short_sentence_is_widened_to_its_neighbour() -> None:
    text = "Parking. Staff park north. Visitors use the south car park near the gate."
    [quote] = choose([passage(text)], score("Where do staff park?", [passage(text)], None))
    assert quote.text == "Staff park north. Visitors use the south car park near the gate."


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
    assert "mileage allowance" in quote.text and len(quote.text) <= MAX_SENTENCE


def words(text: str) -> int:
    """One token per word, for budgets."""
    return len(text.split())


def test_excerpts_keep_the_best_sentences_with_neighbours_within_the_budget() -> None:
    passages = [passage(POLICY_2023, name="2023.pdf"), passage(POLICY_2024, name="2024.pdf")]
    scored = score("What is the mileage allowance for a private car?", passages, HashEmbedder())
    shown = excerpts(passages, scored, 30, words)
    assert sum(words(text) for text in shown.values()) <= 30
    assert "0.35 EUR per kilometre from 1 March 2024." in shown[2]
    assert shown[2].startswith("… Meals abroad")  # its neighbour, and a mark for what is cut
    everything = excerpts(passages, scored, 10_000, words)
    assert everything == {1: POLICY_2023, 2: POLICY_2024}  # verbatim when the budget allows


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
