"""Training examples from people: 👍-rated answers, and 👎-rated ones an administrator reviewed
(wrote the right answer for, in the file `gptu export eval` writes), each re-prompted as the
answerer prompts today and kept only when the answer is in what it shows (cli/tunedata.py).

Only answers whose passages all came from the collection the run learns from join: that
collection by id, never by name (a collection deleted and made again under its name is
another one, and what was answered from the first is not the second's to teach)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from answer.exports import rated
from answer.rag import Answerer
from app.services import Services
from cli.tunedata import Example, in_prompt
from core.db import Collection, Document
from core.records import Trace
from core.scoring import abstained


def rated_examples(answerer: Answerer, services: Services, collection_id: str) -> Iterator[Example]:
    """👍-rated answers whose passages all came from the collection (by id), re-prompted as
    the answerer prompts today (its citations renumbered; skipped when a cited passage is
    gone)."""
    for trace, _ in rated(services.db, 1):
        with services.db.session() as session:
            collection = only_from(session, trace, collection_id)
        if collection is None:
            continue  # a model is as secret as its data: nothing from other collections
        made = in_prompt(answerer, collection, trace.question, renumbered(trace))
        if isinstance(made, Example):
            made.origin = "rated"
            yield made


def reviewed_examples(
    answerer: Answerer, services: Services, collection_id: str, path: Path
) -> Iterator[Example]:
    """👎-rated answers with the right answer a reviewer wrote: the lines of `gptu export eval`
    (rating -1) whose `expected_answer` was filled in, for traces whose passages all came from
    the collection (by id); the reviewer's answer must be in what the answerer shows, like any
    other."""
    for line in review_lines(path):
        with services.db.session() as session:
            trace = session.get(Trace, line["trace_id"])
            collection = only_from(session, trace, collection_id) if trace else None
        if trace is None or collection is None:
            continue
        made = in_prompt(answerer, collection, trace.question, line["expected_answer"])
        if isinstance(made, Example):
            made.origin = "reviewed"
            yield made


def review_lines(path: Path) -> Iterator[dict[str, Any]]:
    """The reviewed 👎 lines of an eval export; ValueError naming a line that is not JSON."""
    with path.open(encoding="utf-8") as lines:
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            try:
                line = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number} is not a JSON line: {exc}") from exc
            if not isinstance(line, dict):
                continue
            answer, named = line.get("expected_answer"), line.get("trace_id")
            written = isinstance(answer, str) and bool(answer.strip())
            if line.get("rating") == -1 and written and isinstance(named, str):
                yield line


def only_from(session: Session, trace: Trace, collection_id: str) -> str | None:
    """The collection's name when every passage the answer was shown came from a document
    that is still in it (by id: the name a passage records may since mean another one)."""
    documents = {str(p.get("document_id")) for p in trace.passages}
    if not documents:
        return None
    found = session.execute(
        select(Document.id, Collection.id, Collection.name)
        .join(Collection, Document.collection_id == Collection.id)
        .where(Document.id.in_(documents))
    ).all()
    if len(found) != len(documents) or any(held_by != collection_id for _, held_by, _ in found):
        return None
    return str(found[0][2])


def renumbered(trace: Any) -> str:
    """The rated answer without its old citation numbers (in_prompt cites what it shows)."""
    if abstained(trace.answer):
        return trace.answer
    return re.sub(r"\s*\[\d{1,2}\]", "", trace.answer).strip()
