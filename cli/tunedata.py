"""GPT-U's training examples from a collection: questions a teacher model writes about its
chunks, and 👍-rated answers from the traces, each in the answerer's own prompt.

A synthetic example is kept only when its answer passes the eval's correctness rule
(`core.scoring.is_correct`: 60 % of its key words) twice: against the chunk it was written
from, and against what the answerer actually shows the model for the question (the real
retrieval and excerpts), so the model never learns to state what its prompt does not hold.
Examples are split into train and held-out parts by document.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import select

from answer.llm import LLM, Message
from answer.quote import sentences
from answer.rag import Answerer
from answer.units import units
from app.services import Services
from core.db import READY, Collection, Document
from core.errors import NotFound
from core.scoring import abstained, is_correct, key_words, overlap
from ingest.passage import Passage

MIN_EXAMPLES = 20  # fewer training examples than this teach nothing measurable
HELD_OUT = 0.2  # share of documents kept out of training, to measure the tuned model on
MIN_CHUNK_CHARS = 200  # shorter chunks are headings and lists of links, not facts
TEACHER_SYSTEM = "You write questions and answers about an organisation's documents."
ASK = (
    'Passage from "{filename}":\n"""\n{text}\n"""\n\n'
    "Write one question that a member of staff could ask and that this passage answers, and "
    "its answer{form} Reply with exactly two lines:\nQ: <the question>\nA: <the answer>"
)
TEACHER_ASK = ASK.replace(
    "{form}", " in one short sentence that uses the passage's own words and numbers."
)
# For a teacher that follows it: answers that restate what was asked, as people's expected
# answers do. On H2O.ai's handbook questions (docs/tuning.md) the 1.5B's examples tuned
# SmolLM2 to answer_correct 0.270 (0.5B with TEACHER_ASK: 0.191); the 0.5B given this prompt
# wrote shorter, poorer answers (0.183, facts in the answer 0.301 against 0.394).
TEACHER_ASK_FULL = ASK.replace(
    "{form}",
    ": one complete sentence that restates what was asked and gives the answer in the "
    "passage's own words, with its numbers and names copied exactly.",
)
FULL_ANSWER_TEACHERS = frozenset({"qwen2.5-coder-1.5b"})
TEACHER_ANSWER = "Now answer that question in one short sentence, in the passage's own words."
# not "Question:": the answerer's stop strings (answer.llm.STOP) end generation there
QA = re.compile(r"Q:\s*(?P<q>.+?)\s*\n+\s*A:\s*(?P<a>.+)", re.DOTALL)
ASKED = re.compile(r"^\s*(?:Q:\s*)?(?P<q>[^\n]{10,}\?)\s*$")  # a reply that is only a question
BLOCK = re.compile(r"^\[(\d{1,2})\] \(", re.MULTILINE)
CITED = re.compile(r"\s*\[(\d{1,2})\]")
# How an example's answer is said: as the teacher wrote it beside the chunk, copied from the
# passage it cites (the unit or sentence that holds it; copied()), or as the teacher answers
# the question itself in the answerer's own prompt (answered(): the student learns the teacher's
# answers to the prompts it will get).
ANSWERS = ("written", "copied", "answered")
ANSWER_TOKENS = 256  # GPTU_MAX_ANSWER_TOKENS' default
ANSWER_TEMPERATURE = 0.1  # the answerer's (answer.rag)
COPIED_CHARS = 600  # a longer unit is copied as its sentence that holds the answer, if one does


class TooFewExamples(Exception):
    """The collection does not give enough usable examples to tune on."""


@dataclass
class Example:
    """One conversation to train on, with where it came from."""

    messages: list[Message]
    document: str  # the file whose text it was written from (the train/held-out unit)
    origin: str  # "synthetic" or "rated"
    question: str
    answer: str
    teacher_reply: str = ""  # the teacher's answer in the answerer's prompt (--answers answered)


@dataclass
class Synthesis:
    """What the teacher was asked and what was kept, with the reason for each rejection."""

    tried: int = 0
    kept: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def per_second(self) -> float:
        """Examples kept per second of synthesis."""
        return self.kept / self.seconds if self.seconds else 0.0

    def reject(self, reason: str) -> None:
        """Count one rejection."""
        self.rejected[reason] = self.rejected.get(reason, 0) + 1


def held_out(filename: str, share: float = HELD_OUT) -> bool:
    """Whether a document belongs to the held-out part: a fixed function of its name, so every
    run (and the eval set's questions about it) splits the same way."""
    return int(hashlib.sha256(filename.encode()).hexdigest()[:8], 16) / 2**32 < share


def collection_chunks(services: Services, collection: str) -> list[Passage]:
    """Every chunk of the collection's ready documents, document by document."""
    with services.db.session() as session:
        found = session.scalar(select(Collection.id).where(Collection.name == collection))
        if found is None:
            raise NotFound(f"collection {collection!r} does not exist")
        ids = session.scalars(
            select(Document.id)
            .where(Document.collection_id == found, Document.status == READY)
            .order_by(Document.filename)
        ).all()
    return [p for doc_id in ids for p in services.lexical.passages(doc_id)]


def pick(chunks: list[Passage], limit: int) -> list[Passage]:
    """Up to limit chunks long enough to hold a fact, taken in turn from each document."""
    by_document: dict[str, list[Passage]] = {}
    for chunk in chunks:
        if len(chunk.text) >= MIN_CHUNK_CHARS:
            by_document.setdefault(chunk.document_id, []).append(chunk)
    queues = list(by_document.values())
    picked: list[Passage] = []
    while queues and len(picked) < limit:
        picked += [queue.pop(0) for queue in queues][: limit - len(picked)]
        queues = [queue for queue in queues if queue]
    return picked


def default_answers(teacher: str) -> str:
    """How examples are answered unless asked otherwise: in the 1.5B's own words in the
    answerer's prompt (on all 344 of H2O.ai's handbook questions this tuned SmolLM2 to
    answer_correct 0.360 against the base's 0.299, +0.061 ± 0.055, docs/tuning.md); as written
    beside the chunk for the others (the 0.5B answers the answerer's prompts less well than
    the student should learn to: 0.391 on those questions against the 1.5B's 0.583)."""
    return "answered" if teacher in FULL_ANSWER_TEACHERS else "written"


def teacher_prompt(teacher: str) -> str:
    """The prompt a teacher (catalog name; "" for GPTU_LLM_URL) is asked with."""
    return TEACHER_ASK_FULL if teacher in FULL_ANSWER_TEACHERS else TEACHER_ASK


def ask_teacher(teacher: LLM, chunk: Passage, prompt: str) -> tuple[str, str] | None:
    """The teacher's (question, answer) about a chunk; None when it did not reply in form.

    Small teachers often reply with the question alone: they are then asked for its answer
    in a second turn (which reuses the first turn's evaluated prompt in llama.cpp).
    """
    ask = prompt.format(filename=chunk.filename, text=chunk.text.strip())
    messages = [{"role": "system", "content": TEACHER_SYSTEM}, {"role": "user", "content": ask}]
    reply = "".join(teacher.stream(messages, 160, 0.2, threading.Event()))
    match = QA.search(reply)
    if match:
        question, answer = match.group("q"), match.group("a").strip().splitlines()[0]
    elif asked := ASKED.match(reply):
        question = asked.group("q")
        follow = [*messages, {"role": "assistant", "content": reply.strip()},
                  {"role": "user", "content": TEACHER_ANSWER}]  # fmt: skip
        answer = "".join(teacher.stream(follow, 80, 0.2, threading.Event())).strip()
        answer = re.sub(r"^A:\s*", "", answer.splitlines()[0]) if answer else ""
    else:
        return None
    return " ".join(question.split()), " ".join(answer.split())


def blocks(prompt: str) -> list[tuple[int, int, int]]:
    """The numbered passages of an answerer's prompt: (n, start, end), each from its "[n] ("
    label to the next one (the last to the prompt's end)."""
    starts = [(int(m.group(1)), m.start()) for m in BLOCK.finditer(prompt)]
    ends = [start for _, start in starts[1:]] + [len(prompt)]
    return [(n, start, end) for (n, start), end in zip(starts, ends, strict=True)]


def cited(answer: str, prompt: str) -> int | None:
    """The number of the shown passage that best supports the answer, if one does."""
    shown = blocks(prompt)
    if not shown:
        return None
    best, best_n = 0.0, None
    for n, start, end in shown:
        share = overlap(answer, prompt[start:end])
        if share > best:
            best, best_n = share, n
    return best_n if best_n is not None and is_correct(answer, prompt[shown[0][1] :]) else None


def in_prompt(answerer: Answerer, collection: str, question: str, answer: str) -> Example | str:
    """The example as the answerer would prompt the model for it, or why it cannot be one."""
    plan = answerer.plan([{"role": "user", "content": question}], [collection])
    if not plan.grounded:
        return "not answerable from the retrieved passages"
    prompt = plan.messages[-1]["content"]
    if abstained(answer):
        n = None
    else:
        n = cited(answer, prompt)
        if n is None:
            return "the retrieved excerpts do not hold the answer"
        answer = answer if re.search(r"\[\d{1,2}\]", answer) else f"{answer.rstrip()} [{n}]"
    messages = [*plan.messages, {"role": "assistant", "content": answer}]
    source = plan.passages[(n or 1) - 1].filename if plan.passages else ""
    return Example(messages, source, "synthetic", question, answer)


def block_text(prompt: str, n: int) -> str:
    """What the model reads of passage [n] in an answerer's prompt ("" when it is not there)."""
    for number, start, end in blocks(prompt):
        if number == n:
            body = prompt[prompt.index("\n", start) + 1 : end]  # past its label line
            return body.split("\n</passages>", 1)[0].strip()
    return ""


def copied_answer(answer: str, text: str, n: int) -> str | None:
    """The part of passage [n]'s text that says the answer, as the answer (cited): its unit
    (a paragraph, a list item, an FAQ entry; an excerpt's piece of one) that holds most of the
    answer's key words, or that unit's best sentence when the unit is long; None when no part
    holds the answer."""
    said = CITED.sub("", answer)
    # an excerpt's "…" joins pieces the prompt shows apart: never copied across one
    found = [piece.strip() for u in units(n, text) for piece in text[u.start : u.end].split("…")]
    found = [part for part in found if part and is_correct(said, part)]
    if not found:
        return None
    best = max(found, key=lambda part: (overlap(said, part), -len(part)))
    if len(best) > COPIED_CHARS:
        shorter = [s.text for s in sentences(n, best) if is_correct(said, s.text)]
        if not shorter:
            return None
        best = max(shorter, key=lambda part: (overlap(said, part), -len(part)))
    return f"{' '.join(best.split())} [{n}]"


def with_reply(example: Example, reply: str) -> Example:
    """The example with another reply for the model to learn (its expected answer kept)."""
    said: Message = {"role": "assistant", "content": reply}
    return replace(example, messages=[*example.messages[:-1], said])


def copied(example: Example) -> Example | None:
    """A synthetic example whose answer is copied from the passage it cites, word for word
    (the teacher's answer stays the example's expected answer); None when that passage does
    not say the answer in one part. Other examples (rated, reviewed) are kept as they are."""
    reply = example.messages[-1]["content"]
    cite = CITED.search(reply)
    if example.origin != "synthetic" or cite is None:
        return example
    n = int(cite.group(1))
    answer = copied_answer(reply, block_text(example.messages[-2]["content"], n), n)
    if answer is None:
        return None
    return with_reply(example, answer)


def answered(example: Example) -> Example | None:
    """A synthetic example whose answer is the teacher's own in the answerer's prompt, cited
    (the written answer stays the expected one); None when that reply declines, or does not say
    the written answer (the eval's rule), or was not asked for. Others are kept as they are."""
    if example.origin != "synthetic":
        return example
    reply = example.teacher_reply
    said = CITED.sub("", example.answer)
    if not reply or abstained(reply) or not is_correct(said, reply):
        return None
    if not CITED.search(reply):
        n = cited(reply, example.messages[-2]["content"])
        reply = f"{reply.rstrip()} [{n}]" if n is not None else reply
    return with_reply(example, reply)


def reanswer(examples: list[Example], stats: Synthesis, how: str) -> list[Example]:
    """The examples with their answers said `how` ("copied" or "answered"; "written", or ""
    for a run started before --answers, leaves them); those that cannot be are counted as
    rejected, with why."""
    if how in ("", "written"):
        return examples
    make, why = {
        "copied": (copied, "the cited passage does not say the answer in one part"),
        "answered": (answered, "the teacher's answer in the answerer's prompt does not say it"),
    }[how]
    kept = []
    for example in examples:
        made = make(example)
        if made is None:
            stats.kept -= 1
            stats.reject(why)
        else:
            kept.append(made)
    return kept


def judge(chunk: Passage, written: tuple[str, str] | None) -> str | None:
    """Why the teacher's question and answer about chunk are unusable; None when usable."""
    if written is None:
        return "the teacher did not reply as asked"
    question, answer = written
    if len(key_words(question)) < 2 or len(key_words(answer)) < 2:
        return "question or answer too short"
    if abstained(answer):
        return "the teacher found no answer"
    if not is_correct(answer, chunk.text):
        return "the chunk does not support the answer"
    return None


def synthesise(
    answerer: Answerer,
    teacher: LLM,
    chunks: list[Passage],
    collection: str,
    journal: Path,
    progress: Callable[[Synthesis], None] = lambda _: None,
    prompt: str = TEACHER_ASK,
    teacher_answers: bool = False,
) -> tuple[list[Example], Synthesis]:
    """Ask the teacher about each chunk and keep the usable examples; `teacher_answers`: it
    also answers each kept question in the answerer's prompt (Example.teacher_reply).

    journal: one JSON line per chunk tried (kept or why not), appended as it goes, so a run
    that stops continues with the chunks it has not tried.
    """
    done = read_journal(journal)
    stats, examples = Synthesis(), []
    started = time.perf_counter()
    with journal.open("a", encoding="utf-8") as out:
        for chunk in chunks:
            if chunk.id not in done:
                done[chunk.id] = try_chunk(
                    answerer, teacher, chunk, collection, prompt, teacher_answers
                )
                out.write(json.dumps({"chunk": chunk.id, **done[chunk.id]}) + "\n")
                out.flush()
            entry = done[chunk.id]
            stats.tried += 1
            if entry.get("example"):
                examples.append(Example(**entry["example"]))
                stats.kept += 1
            else:
                stats.reject(entry["reason"])
            stats.seconds = time.perf_counter() - started
            progress(stats)
    return examples, stats


def try_chunk(
    answerer: Answerer, teacher: LLM, chunk: Passage, collection: str, prompt: str,
    teacher_answers: bool = False,
) -> dict:  # fmt: skip
    """One chunk's journal entry: its example (with the teacher's own answer in the answerer's
    prompt when `teacher_answers`), or the reason it gave none."""
    written = ask_teacher(teacher, chunk, prompt)
    reason = judge(chunk, written)
    if reason is None and written is not None:
        made = in_prompt(answerer, collection, *written)
        if isinstance(made, Example):
            made.document = chunk.filename  # the split is by the document it was written from
            if teacher_answers:
                reply = teacher.stream(made.messages[:-1], ANSWER_TOKENS, ANSWER_TEMPERATURE,
                                       threading.Event())  # fmt: skip
                made.teacher_reply = "".join(reply).strip()
            return {"example": asdict(made)}
        reason = made
    return {"reason": reason}


def read_journal(path: Path) -> dict[str, dict[str, Any]]:
    """The chunks tried by an earlier (interrupted) run, by chunk id."""
    if not path.is_file():
        return {}
    entries = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue  # the line a killed run was writing
        entries[entry.pop("chunk")] = entry
    return entries


def split(examples: list[Example], share: float = HELD_OUT) -> tuple[list[Example], list[Example]]:
    """(train, held out), by document."""
    train = [e for e in examples if not held_out(e.document, share)]
    return train, [e for e in examples if held_out(e.document, share)]


def require_enough(train: list[Example], held: list[Example], collection: str) -> None:
    """TooFewExamples unless there are MIN_EXAMPLES examples to train on."""
    if len(train) < MIN_EXAMPLES:
        raise TooFewExamples(
            f"collection {collection!r} gives {len(train)} usable training examples "
            f"({len(train) + len(held)} in all, {len(held)} held out by document); tuning "
            f"needs at least {MIN_EXAMPLES}: add documents, or rate more answers 👍"
        )


def write_training(path: Path, examples: list[Example]) -> None:
    """The chat-format JSON lines tune.train reads."""
    with path.open("w", encoding="utf-8") as out:
        for example in examples:
            out.write(json.dumps({"messages": example.messages}, ensure_ascii=False) + "\n")


def write_eval(path: Path, examples: list[Example]) -> None:
    """Held-out examples as `gptu eval` questions (the answer the teacher wrote, its file)."""
    with path.open("w", encoding="utf-8") as out:
        for e in examples:
            answer = re.sub(r"\s*\[\d{1,2}\]", "", e.answer)
            line = {"question": e.question, "expected_sources": [e.document],
                    "expected_answer": answer, "answerable": not abstained(answer)}  # fmt: skip
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
