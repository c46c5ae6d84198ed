"""GPT-U's training data: a teacher's questions about a collection's chunks, checked against the
chunk and against what the real retrieval shows the model, plus 👍-rated answers; split by
document; people's answers only from the run's collection, by id. Real SQLite, Chroma server
and lexical index; the hash embedder, a scripted student (token counting only) and a teacher we
own (deterministic)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from answer.rag import SYSTEM_PROMPT
from app.answering import make_answerer
from app.intake import Intake, Upload
from app.services import Services
from cli.tune import (
    OTHERS,
    TEACHERS,
    TuneRun,
    new_run,
    open_run,
    require_same_collection,
    teacher_name,
)
from cli.tunedata import (
    MIN_EXAMPLES,
    TEACHER_ASK,
    TEACHER_ASK_FULL,
    TooFewExamples,
    collection_chunks,
    default_answers,
    held_out,
    pick,
    reanswer,
    require_enough,
    split,
    synthesise,
    teacher_prompt,
)
from cli.tunerated import rated_examples, reviewed_examples
from core.db import Collection, Document
from core.records import Feedback, Trace
from core.settings import Settings
from tests.fakes import ScriptedLLM
from tests.isolated.test_operate import OPS, deployment, redis_url  # noqa: F401 (a fixture)
from worker.celery_app import make_celery

PLACES = ["Zorblat", "Quimby", "Vantor", "Pellworth", "Marrick", "Tolvane", "Brisco", "Endara",
          "Fenwold", "Galloway", "Harrow", "Istrel", "Jarnby", "Kelso", "Lunmore", "Morvane",
          "Norcott", "Oxley", "Prentis", "Quarrel", "Rudgely", "Selwick", "Tamsin", "Ulgham",
          "Varley", "Wexcombe", "Yarrow", "Zennor", "Ashby", "Belford"]  # fmt: skip
PASSAGE = re.compile(r'"""\n(.*?)\n"""', re.DOTALL)


def policy(place: str, n: int) -> str:
    """A document with one fact about place, long enough to be picked."""
    return (
        f"# {place} office\n\nThe {place} office opens at {n % 12 + 1}:15 on weekdays and "
        f"its badge desk sits on floor {n % 9 + 2}. Visitors to {place} sign the register at "
        "the front desk, wear the yellow lanyard at all times and are met by their host. "
        "Parcels for staff are kept behind the front desk until the end of the day."
    )


class Teacher(ScriptedLLM):
    """A teacher we own: asks about the passage's first sentence and answers with it; about
    files named `wrong-*` it answers with something the passage does not say; about every
    third place it first replies with the question alone, as small models do."""

    def __init__(self) -> None:
        super().__init__("", context_size=4096)
        self.name, self.excerpt_tokens = "teacher", 0

    @property
    def calls(self) -> int:
        """Replies asked for."""
        return len(self.prompts)

    def script(self, messages: list[dict[str, str]]) -> str:
        """One reply in the asked form (or the question, then its answer when asked); in the
        answerer's prompt, the first passage's opening sentence."""
        prompt = messages[1]["content"]
        if prompt.startswith("<passages>"):
            return "The " + prompt.split("The ", 1)[1].split(". ")[0] + "."
        passage = PASSAGE.search(prompt)
        assert passage, prompt
        first = "The " + passage.group(1).split("The ", 1)[1].split(". ")[0]  # past the title
        place = first.split()[1]
        answer = "The canteen serves soup at noon." if '"wrong-' in prompt else f"{first}."
        question = f"When does the {place} office open?"
        if PLACES.index(place) % 3:
            return f"Q: {question}\nA: {answer}"
        return question if len(messages) == 2 else f"A: {answer}"


def ingest(services: Services, settings: Settings, name: str, files: dict[str, str]) -> None:
    """Create collection `name` and ingest the files into it in-process."""
    intake = Intake(services, make_celery(settings))
    with services.db.session() as session:
        collection = Collection(name=name, embedder=services.embedder.id)
        session.add(collection)
        session.commit()
        uploads = [Upload(f, io.BytesIO(text.encode())) for f, text in files.items()]
        ids = [doc.id for doc in intake.accept(session, collection, uploads, OPS)]
    for doc_id in ids:
        assert services.pipeline().run(doc_id)["status"] == "ready"


@pytest.fixture(scope="module")
def company(
    tmp_path_factory: pytest.TempPathFactory,
    redis_url: str,  # noqa: F811
) -> Iterator[tuple[Settings, Services]]:
    """A deployment with collection `policies` (30 one-fact files, 3 of them `wrong-*`) and
    collection `other`."""
    tmp = tmp_path_factory.mktemp("tunedata")
    with deployment(tmp, "data", redis_url) as (settings, services):
        files = {f"{'wrong' if i % 10 == 9 else 'office'}-{p.lower()}.md": policy(p, i)
                 for i, p in enumerate(PLACES)}  # fmt: skip
        ingest(services, settings, "policies", files)
        ingest(services, settings, "other", {"secret.md": policy("Obscura", 1)})
        # the hash embedder's cosines run lower than MiniLM's
        yield settings.model_copy(update={"min_similarity": 0.1}), services


def test_examples_are_the_answerers_prompts_with_supported_answers(
    company: tuple[Settings, Services], tmp_path: Path
) -> None:
    settings, services = company
    answerer = make_answerer(settings, services, ScriptedLLM("unused"))
    chunks = pick(collection_chunks(services, "policies"), 300)
    assert len(chunks) == 30  # one per document, each long enough
    teacher = Teacher()
    examples, stats = synthesise(answerer, teacher, chunks, "policies", tmp_path / "j.jsonl")
    assert (stats.tried, stats.kept) == (30, 27)
    assert stats.rejected == {"the chunk does not support the answer": 3}
    assert stats.per_second > 0
    for e in examples:
        system, user, reply = e.messages
        assert system == {"role": "system", "content": SYSTEM_PROMPT}
        assert user["content"].startswith("<passages>\n[1] (")
        assert user["content"].endswith(f"</passages>\n\nQuestion: {e.question}")
        n = int(re.findall(r"\[(\d)\]$", reply["content"])[0])  # cites a shown passage
        block = user["content"].split(f"[{n}] (")[1]
        assert block.startswith(e.document)  # the passage it came from, by its label
        assert e.answer.removesuffix(f" [{n}]") in block
        assert e.origin == "synthetic" and not e.document.startswith("wrong-")
    # a second run of the same journal asks the teacher nothing and finds the same examples
    again, _ = synthesise(answerer, teacher, chunks, "policies", tmp_path / "j.jsonl")
    assert teacher.calls == 30 + 10 and again == examples  # every third place asked twice
    train, held = split(examples)
    assert {e.document for e in held} == {e.document for e in examples if held_out(e.document)}
    assert not {e.document for e in train} & {e.document for e in held}
    assert held and len(train) >= MIN_EXAMPLES
    require_enough(train, held, "policies")


def test_the_teacher_answers_in_the_answerers_prompt_when_asked(
    company: tuple[Settings, Services], tmp_path: Path
) -> None:
    settings, services = company
    answerer = make_answerer(settings, services, ScriptedLLM("unused"))
    chunks = pick(collection_chunks(services, "policies"), 6)
    teacher = Teacher()
    examples, stats = synthesise(answerer, teacher, chunks, "policies", tmp_path / "j.jsonl",
                                 teacher_answers=True)  # fmt: skip
    in_prompt = [p for p in teacher.prompts if p[1]["content"].startswith("<passages>")]
    assert len(examples) == len(in_prompt) == stats.kept > 0  # one reply per kept example
    for e, asked in zip(examples, in_prompt, strict=True):
        assert asked == e.messages[:-1]  # the very prompt the student is trained on
        assert e.teacher_reply.startswith("The ")
        assert e.teacher_reply.removesuffix(".") in asked[1]["content"]
    kept = reanswer(examples, stats, "answered")
    assert kept and all(k.messages[-1]["content"].startswith(k.teacher_reply) for k in kept)
    assert len(kept) + sum(stats.rejected.values()) == stats.tried


def test_too_few_examples_are_refused_with_the_count(
    company: tuple[Settings, Services], tmp_path: Path
) -> None:
    settings, services = company
    answerer = make_answerer(settings, services, ScriptedLLM("unused"))
    chunks = pick(collection_chunks(services, "policies"), 8)
    examples, _ = synthesise(answerer, Teacher(), chunks, "policies", tmp_path / "j.jsonl")
    train, held = split(examples)
    with pytest.raises(TooFewExamples, match=rf"gives {len(train)} usable training examples"):
        require_enough(train, held, "policies")


def test_the_teacher_is_asked_with_its_own_prompt(
    company: tuple[Settings, Services], tmp_path: Path
) -> None:
    """The 1.5B is asked for answers that restate the question; every other teacher (the 0.5B
    wrote poorer examples with that prompt) for one short sentence."""
    settings, services = company
    answerer = make_answerer(settings, services, ScriptedLLM("unused"))
    chunks = pick(collection_chunks(services, "policies"), 2)
    assert teacher_prompt("qwen2.5-coder-1.5b") == TEACHER_ASK_FULL != TEACHER_ASK
    assert teacher_prompt("qwen2.5-coder-0.5b") == teacher_prompt("") == TEACHER_ASK
    teacher = Teacher()
    synthesise(answerer, teacher, chunks, "policies", tmp_path / "j.jsonl", prompt=TEACHER_ASK_FULL)
    asked = [p[1]["content"] for p in teacher.prompts if len(p) == 2]
    assert len(asked) == 2
    assert all("restates what was asked" in a and "one short sentence" not in a for a in asked)


def test_a_run_keeps_the_teacher_it_started_with(
    company: tuple[Settings, Services], tmp_path: Path
) -> None:
    """Without --teacher the run stores the teacher it picked, so --resume asks the same one
    even when a preferred teacher is installed in between."""
    settings, _ = company
    settings = settings.model_copy(update={"llm_url": ""})
    folder = new_run(settings, TuneRun("policies"))
    picked = open_run(settings, folder.name)[1].teacher
    assert picked in TEACHERS and picked == teacher_name(settings, "")
    assert open_run(settings, folder.name)[1].answers == default_answers(picked)  # kept too
    assert default_answers("qwen2.5-coder-1.5b") == "answered"
    assert default_answers("qwen2.5-coder-0.5b") == default_answers("") == "written"
    again = new_run(settings, TuneRun("policies"))  # most likely in the same second
    assert again != folder and again.is_dir()


def test_a_bad_question_file_is_refused_before_a_run_starts(
    company: tuple[Settings, Services], tmp_path: Path
) -> None:
    settings, _ = company
    bad = tmp_path / "others.jsonl"
    bad.write_text('{"question": "When does the Kelso office open?"}\n{broken\n')
    runs = settings.data_dir / "tune"
    before = set(runs.iterdir()) if runs.is_dir() else set()
    with pytest.raises(ValueError, match=r"others\.jsonl line 2 is not an eval question"):
        new_run(settings, TuneRun("policies", questions=str(bad)))
    assert (set(runs.iterdir()) if runs.is_dir() else set()) == before  # no run folder
    bad.write_text("\n")
    with pytest.raises(ValueError, match="holds no questions"):
        new_run(settings, TuneRun("policies", questions=str(bad)))
    good = tmp_path / "good.jsonl"
    good.write_text('{"question": "When does the Kelso office open?", "answerable": true}\n')
    folder = new_run(settings, TuneRun("policies", questions=str(good)))
    assert (folder / OTHERS).read_text() == good.read_text()  # --resume measures the same
    assert open_run(settings, folder.name)[1].questions == str(good)


def test_rated_answers_join_only_from_their_own_collection(
    company: tuple[Settings, Services],
) -> None:
    settings, services = company
    answerer = make_answerer(settings, services, ScriptedLLM("unused"))
    found = services.search().search("Marrick office opens", ["policies"], 1)[0]
    other = services.search().search("Obscura office opens", ["other"], 1)[0]
    answer = "The Marrick office opens at 5:15 on weekdays [1]."
    with services.db.session() as session:
        for passage, question in ((found, "When does the Marrick office open?"),
                                  (other, "When does the Obscura office open?")):  # fmt: skip
            trace = Trace(user_name="ann", surface="api", question=question,
                          passages=[{**passage.model_dump(), "n": 1}], answer=answer)  # fmt: skip
            session.add(trace)
            session.flush()
            session.add(Feedback(trace_id=trace.id, rating=1, user_name="ann"))
        session.commit()
        assert len(session.scalars(select(Feedback)).all()) == 2
    examples = list(rated_examples(answerer, services, collection_id(services, "policies")))
    assert [e.question for e in examples] == ["When does the Marrick office open?"]
    (example,) = examples
    assert example.origin == "rated" and example.document == "office-marrick.md"
    assert example.messages[-1]["content"].startswith("The Marrick office opens at 5:15")


def test_reviewed_thumbs_down_answers_join_with_the_reviewers_answer(
    company: tuple[Settings, Services], tmp_path: Path
) -> None:
    settings, services = company
    answerer = make_answerer(settings, services, ScriptedLLM("unused"))
    asked = {"When does the Tolvane office open?": ("policies", "Tolvane office opens"),
             "Where is the Quimby badge desk?": ("policies", "Quimby badge desk floor"),
             "When does the Obscura office open?": ("other", "Obscura office opens")}  # fmt: skip
    lines = []
    with services.db.session() as session:
        for question, (collection, query) in asked.items():
            found = services.search().search(query, [collection], 1)[0]
            trace = Trace(user_name="ann", surface="chat", question=question,
                          passages=[{**found.model_dump(), "n": 1}], answer="No idea.")  # fmt: skip
            session.add(trace)
            session.flush()
            session.add(Feedback(trace_id=trace.id, rating=-1, user_name="ann"))
            lines.append({"question": question, "rating": -1, "trace_id": trace.id,
                          "rejected_answer": "No idea."})  # fmt: skip
        session.commit()
    # the reviewer answers the first and the third; the second stays unreviewed
    lines[0]["expected_answer"] = "The Tolvane office opens at 6:15 on weekdays."
    lines[2]["expected_answer"] = "The Obscura office opens at 9:15 on weekdays."
    path = tmp_path / "reviewed.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    policies = collection_id(services, "policies")
    examples = list(reviewed_examples(answerer, services, policies, path))
    assert [(e.question, e.origin) for e in examples] == [
        ("When does the Tolvane office open?", "reviewed")]  # fmt: skip
    assert examples[0].messages[-1]["content"].startswith("The Tolvane office opens at 6:15")
    path.write_text("not json\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"reviewed\.jsonl:1 is not a JSON line"):
        list(reviewed_examples(answerer, services, policies, path))


def test_answers_from_a_deleted_collection_do_not_join_a_new_one_of_its_name(
    company: tuple[Settings, Services], tmp_path: Path
) -> None:
    settings, services = company
    answerer = make_answerer(settings, services, ScriptedLLM("unused"))
    files = {"office-dunmore.md": policy("Dunmore", 3)}
    ingest(services, settings, "moved", files)
    first = collection_id(services, "moved")
    found = services.search().search("Dunmore office opens", ["moved"], 1)[0]
    question, right = "When does the Dunmore office open?", "The Dunmore office opens at 4:15."
    lines = []
    with services.db.session() as session:
        for rating, answer in ((1, f"{right} [1]"), (-1, "No idea.")):
            trace = Trace(user_name="ann", surface="chat", question=question,
                          passages=[{**found.model_dump(), "n": 1}], answer=answer)  # fmt: skip
            session.add(trace)
            session.flush()
            session.add(Feedback(trace_id=trace.id, rating=rating, user_name="ann"))
            if rating == -1:
                lines.append({"question": question, "rating": -1, "trace_id": trace.id,
                              "expected_answer": right})  # fmt: skip
    path = tmp_path / "reviewed.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    assert [e.question for e in rated_examples(answerer, services, first)] == [question]
    assert [e.question for e in reviewed_examples(answerer, services, first, path)] == [question]
    folder = new_run(settings, TuneRun("moved"))  # a tuning run starts on the first one
    _, run = open_run(settings, folder.name)
    assert run.collection_id == first
    require_same_collection(settings, run)

    delete_collection(services, settings, "moved")
    ingest(services, settings, "moved", files)  # the same file, in a new collection of the name
    second = collection_id(services, "moved")
    assert second != first
    assert list(rated_examples(answerer, services, second)) == []
    assert list(reviewed_examples(answerer, services, second, path)) == []
    assert list(rated_examples(answerer, services, first)) == []  # and the old one is gone
    with pytest.raises(ValueError, match="'moved' was deleted since this run started"):
        require_same_collection(settings, run)  # it stops, registering nothing
    with pytest.raises(ValueError, match="started by an older gptu"):
        require_same_collection(settings, TuneRun("moved"))  # a run.json without the id


def collection_id(services: Services, name: str) -> str:
    """The id of the collection called name, now."""
    with services.db.session() as session:
        found = session.scalar(select(Collection.id).where(Collection.name == name))
    assert found is not None
    return found


def delete_collection(services: Services, settings: Settings, name: str) -> None:
    """Delete a collection with its documents, as DELETE /v1/collections/{name} does."""
    intake = Intake(services, make_celery(settings))
    with services.db.session() as session:
        collection = session.scalars(select(Collection).where(Collection.name == name)).one()
        docs = session.scalars(select(Document).where(Document.collection_id == collection.id))
        for doc in docs.all():
            intake.delete(session, doc)
        services.vectors.drop_collection(collection.name)
        session.delete(collection)
