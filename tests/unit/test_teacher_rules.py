"""What the tune keeps of a teacher's question and answer: facts about the organisation, stated
as the answerer should state them, with the chunk's own numbers and names."""

from __future__ import annotations

from answer.llm import Message
from cli.tunedata import ask_teacher, block_of, copied, judge
from ingest.passage import Passage
from tests.fakes import ScriptedLLM

CHUNK = Passage(
    id="c1", document_id="d1", chunk=0, collection="c", filename="HR_Policy.pdf",
    text="1. PAY DAY 1.1 Staff will receive the full month salary on the 23rd of each month. "
    "It will be credited to the bank account of the staff by GIRO.",
)  # fmt: skip


class Reply(ScriptedLLM):
    """A teacher that always replies the same."""

    def __init__(self, reply: str) -> None:
        super().__init__("", context_size=4096)
        self.reply = reply

    def script(self, messages: list[Message]) -> str:
        """The reply."""
        return self.reply


def written(reply: str) -> tuple[str, str] | None:
    """What ask_teacher makes of one reply."""
    return ask_teacher(Reply(reply), CHUNK)


def test_an_answer_that_describes_the_text_is_turned_into_the_fact() -> None:
    got = written("Q: When is salary paid?\nA: The passage states that staff receive their "
                  "full month salary on the 23rd of each month.")  # fmt: skip
    assert got == ("When is salary paid?",
                   "Staff receive their full month salary on the 23rd of each month.")  # fmt: skip
    assert judge(CHUNK, got) is None
    assert written("Q: When is pay day?\nA: According to the document, it is the 23rd of each "
                   "month.") == ("When is pay day?", "It is the 23rd of each month.")  # fmt: skip


def test_questions_about_the_text_and_echoes_and_made_up_facts_are_rejected() -> None:
    about = (
        "What does the passage say about pay day?",
        "Staff are paid on the 23rd of each month.",
    )
    assert judge(CHUNK, about) == "the question asks about the text, not the organisation"
    named = ("What is the purpose of the HR_Policy.pdf document?", "Salary on the 23rd.")
    assert judge(CHUNK, named) == "the question asks about the text, not the organisation"
    echo = ("When do staff receive the full month salary?",
            "When do staff receive the full month salary?")  # fmt: skip
    assert judge(CHUNK, echo) == "the answer repeats the question"
    number = (
        "When is salary paid?",
        "Staff receive the full month salary on the 25th of each month.",
    )
    assert judge(CHUNK, number) == "the answer states a number or name the chunk does not"
    name = ("How is salary paid?", "Salary of the full month is credited by GIRO through DBS bank.")
    assert judge(CHUNK, name) == "the answer states a number or name the chunk does not"
    assert judge(CHUNK, ("How is salary paid?", "Salary is credited to the staff's bank account "
                         "by GIRO on the 23rd of each month.")) is None  # fmt: skip


class Bare(ScriptedLLM):
    """A teacher that answers in two words first, and in a sentence when asked again."""

    def __init__(self) -> None:
        super().__init__("", context_size=4096)

    def script(self, messages: list[Message]) -> str:
        """The bare reply, then the sentence."""
        if len(messages) == 2:
            return "Q: Which day is pay day?\nA: 23rd"
        return "A: Staff receive the full month salary on the 23rd of each month."


def test_a_bare_answer_is_asked_again_as_a_full_sentence() -> None:
    got = ask_teacher(Bare(), CHUNK)
    assert got == ("Which day is pay day?",
                   "Staff receive the full month salary on the 23rd of each month.")  # fmt: skip
    assert judge(CHUNK, got) is None


class Repeats(ScriptedLLM):
    """A teacher that writes the question again before its full-sentence answer."""

    def __init__(self) -> None:
        super().__init__("", context_size=4096)

    def script(self, messages: list[Message]) -> str:
        """The bare reply, then question and sentence."""
        if len(messages) == 2:
            return "Q: Which day is pay day?\nA: 23rd"
        return "Q: Which day is pay day?\nA: Pay day is the 23rd of each month."


def test_a_second_reply_that_repeats_the_question_gives_its_answer_line() -> None:
    assert ask_teacher(Repeats(), CHUNK) == ("Which day is pay day?",
                                             "Pay day is the 23rd of each month.")  # fmt: skip


def test_the_answer_trained_on_is_the_shown_sentence_that_holds_it() -> None:
    prompt = (
        "<passages>\n[1] (HR_Policy.pdf, p. 9)\n4.4 The Study Loan is a contract between the "
        "employee and the bank. 4.5 NTUC-ARU shall bear the interest for the Study Loan up to a "
        "repayment period of 5 years.\n[2] (HR_Policy.pdf, p. 2)\nPay day is the 23rd.\n</passages>"
    )
    shown = block_of(prompt, 1)
    assert shown.startswith("4.4 The Study Loan") and "Pay day" not in shown
    teacher = "NTUC-ARU bears the interest for up to 5 years of repayment."
    assert copied(teacher, shown) == (
        "NTUC-ARU shall bear the interest for the Study Loan up to a repayment period of 5 years."
    )
    assert copied("The canteen serves soup at noon.", shown) == ""  # nothing shown holds it
