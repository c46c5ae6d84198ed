"""GPT-U's answers said otherwise than as the teacher wrote them: copied (`gptu tune --answers
copied`: the part of the cited passage that says it, word for word, as the answerer's prompt
shows it) or answered (`--answers answered`: the teacher's own reply in the answerer's prompt)."""

from __future__ import annotations

from answer.rag import Source, build_messages
from cli.tunedata import (
    COPIED_CHARS,
    Example,
    Synthesis,
    answered,
    block_text,
    copied,
    copied_answer,
    reanswer,
)

LEAVE = (
    "Q: How many days of annual leave do staff get?\n"
    "A: Full-time staff get 25 days of annual leave a year, plus public holidays.\n\n"
    "Q: Who approves leave?\nA: Your line manager approves leave in the HR portal."
)
PARKING = "Parking is free for staff. The car park opens at 6:30 and closes at 22:00."


def prompt() -> str:
    passages = [
        Source(document_id="a", chunk=0, collection="hr", filename="leave.md", text=LEAVE, n=1),
        Source(document_id="b", chunk=0, collection="hr", filename="site.md", text=PARKING, n=2),
    ]
    question = [{"role": "user", "content": "how much holiday do I get"}]
    return build_messages(question, passages)[-1]["content"]


def example(answer: str, origin: str = "synthetic", reply: str = "") -> Example:
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": prompt()},
                {"role": "assistant", "content": answer}]  # fmt: skip
    return Example(messages, "leave.md", origin, "how much holiday do I get", answer, reply)


def test_the_block_is_the_passage_as_the_model_reads_it() -> None:
    assert block_text(prompt(), 1) == LEAVE
    assert block_text(prompt(), 2) == PARKING  # the last block ends at the fence
    assert block_text(prompt(), 3) == ""


def test_the_answer_becomes_the_unit_that_says_it_cited() -> None:
    made = copied(example("Staff get 25 days of annual leave. [1]"))
    assert made is not None
    reply = made.messages[-1]["content"]
    assert reply == (
        "Q: How many days of annual leave do staff get? A: Full-time staff get 25 days of "
        "annual leave a year, plus public holidays. [1]"
    )  # the FAQ entry (question and answer lines) is one unit; the other entry is left out
    assert made.answer == "Staff get 25 days of annual leave. [1]"  # still the expected answer
    assert made.messages[:-1] == example("x").messages[:-1]


def test_a_long_unit_gives_its_sentence_that_says_the_answer() -> None:
    filler = "The site has many rooms and a canteen on the ground floor. " * 12
    text = f"{filler}The car park closes at 22:00 on weekdays. {filler}".strip()
    assert len(text) > COPIED_CHARS
    assert copied_answer("The car park closes at 22:00 [1]", text, 1) == (
        "The car park closes at 22:00 on weekdays. [1]"
    )


def test_an_excerpts_pieces_are_never_copied_together() -> None:
    text = "… 3). Outpatient: a person not admitted as an inpatient. … b. Other episodes"
    said = "An outpatient is a person not admitted as an inpatient. [1]"
    piece = "3). Outpatient: a person not admitted as an inpatient."
    assert copied_answer(said, text, 1) == f"{piece} [1]"


def test_an_answer_no_part_says_is_dropped_and_people_answers_are_kept() -> None:
    assert copied(example("Staff may carry 5 days over into the next year. [1]")) is None
    rated = example("You get 25 days. [1]", origin="rated")
    assert copied(rated) is rated
    uncited = example("Staff get 25 days of annual leave.")
    assert copied(uncited) is uncited


def test_the_teachers_own_reply_is_the_answer_when_it_says_the_written_one() -> None:
    written = "Staff get 25 days of annual leave. [1]"
    reply = "Full-time staff get 25 days of annual leave a year, plus public holidays."
    made = answered(example(written, reply=reply))
    assert made is not None
    assert made.messages[-1]["content"] == reply + " [1]"  # cited as the passage that holds it
    assert made.answer == written and made.messages[:-1] == example("x").messages[:-1]
    cited_already = answered(example(written, reply="You get 25 days of annual leave [1]."))
    assert cited_already is not None
    assert cited_already.messages[-1]["content"] == "You get 25 days of annual leave [1]."


def test_a_reply_that_declines_or_says_otherwise_is_dropped_with_why() -> None:
    written = "Staff get 25 days of annual leave. [1]"
    declined = example(written, reply="The documents do not say how much leave staff get.")
    other = example(written, reply="Your line manager approves leave in the HR portal. [1]")
    unasked = example(written)  # a journal from a run that did not ask the teacher to answer
    people = example("You get 25 days. [1]", origin="rated")
    stats = Synthesis(tried=4, kept=4)
    kept = reanswer([declined, other, unasked, people], stats, "answered")
    assert kept == [people] and stats.kept == 1
    assert stats.rejected == {"the teacher's answer in the answerer's prompt does not say it": 3}
    assert reanswer([declined], Synthesis(), "written") == [declined]
    assert reanswer([declined], Synthesis(), "") == [declined]  # a run from before --answers
