"""`gptu eval --models` with the packaged model on a small collection of the running stack, and
the last comparison behind `GET /v1/eval/models` (admins only)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from cli.evalmodels import ROWS, comparison, save
from core.settings import model_comparison_file
from tests.conftest import Stack, upload, wait_done
from tests.integration.test_eval import COMPANY, DOCUMENTS, gptu_eval

REFUSED = {"error": {"code": "forbidden", "message": "only an admin may do this"}}
TRAVEL = [f"travel-policy-{year}.md" for year in (2022, 2023, 2024)]


def plain_key(stack: Stack) -> str:
    """The API key of a new user who is no admin."""
    name = f"plain-{uuid.uuid4().hex[:6]}"
    with stack.client() as admin:
        admin.post("/v1/users", json={"name": name}).raise_for_status()
        key: str = admin.post(f"/v1/users/{name}/keys").json()["key"]
    return key


def test_admins_see_the_last_comparison_once_one_ran_and_others_are_refused(stack: Stack) -> None:
    model_comparison_file(stack.data_dir).unlink(missing_ok=True)  # none ran yet
    with stack.client() as admin:
        none = admin.get("/v1/eval/models")
        assert none.status_code == 404, none.text
        assert none.json()["error"]["code"] == "not_found"
        assert "gptu eval FILE.jsonl --collection C --models" in none.json()["error"]["message"]
        shares: dict[str, int | float | None] = {row: 0.5 for row in ROWS}
        figures = {"smollm2-135m": {**shares, "questions": 2, "abstention": None}}
        made = comparison("handbook.jsonl", "handbook", figures, [{"line": 2, "error": "x"}])
        save(stack.data_dir, made)  # where `gptu eval --models` keeps it
        shown = admin.get("/v1/eval/models")
        assert shown.status_code == 200 and shown.json() == made
    with stack.client(plain_key(stack)) as plain:
        refused = plain.get("/v1/eval/models")
        assert refused.status_code == 403 and refused.json() == REFUSED


@pytest.mark.slow
def test_the_packaged_model_is_compared_in_process_and_the_admin_page_gets_it(
    stack: Stack, tmp_path: Path
) -> None:
    name = f"travel-{uuid.uuid4().hex[:6]}"
    with stack.client() as admin:
        admin.post("/v1/collections", json={"name": name}).raise_for_status()
        items = upload(admin, name, [(f, (DOCUMENTS / f).read_bytes()) for f in TRAVEL])
        docs = wait_done(admin, [i["id"] for i in items])
    assert all(d["status"] == "ready" for d in docs.values()), docs
    lines = COMPANY.read_text().splitlines()
    answerable = [x for x in lines if any(f in x for f in TRAVEL)][:2]
    unanswerable = next(x for x in lines if "2021 travel policy" in x)  # no such file here
    questions = tmp_path / "travel.jsonl"
    questions.write_text("\n".join([*answerable, unanswerable]) + "\n")

    done = gptu_eval(stack, str(questions), "--collection", name, "--models", "smollm2-135m",
                     "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["file"], report["collection"], report["models"]) == (
        "travel.jsonl", name, ["smollm2-135m"])  # fmt: skip
    figures = report["figures"]["smollm2-135m"]
    assert list(figures) == list(ROWS) and figures["questions"] == 3 and not report["skipped"]
    assert figures["abstention"] in (0.0, 1.0) and figures["false_abstention"] is not None
    assert figures["answer_correct"] is not None
    # the quote is part of what a person sees: never fewer facts than the answer alone
    assert 0 <= figures["facts_answer"] <= figures["facts_seen"] <= 1
    assert figures["ttft_p50_s"] > 0 and figures["tokens_per_s"] > 0
    with stack.client() as admin:
        assert admin.get("/v1/eval/models").json() == report
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF and nothing else")
    failed = gptu_eval(stack, str(questions), "--collection", name, "--models", str(broken))
    assert failed.returncode == 1 and "error: cannot load model broken" in failed.stderr
    assert (
        json.loads((model_comparison_file(stack.data_dir)).read_text()) == report
    )  # kept as it was
