"""`gptu eval --models`: the comparison's table and JSON, where it is kept, and the refusal of
a model that is unknown or not installed before anything runs."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from api.schemas import ModelComparison
from cli.evalmodels import (
    ROWS,
    Refused,
    comparison,
    comparison_table,
    installed_specs,
    model_names,
    require_installed,
    save,
    table_rows,
)
from cli.localstack import GPTU, ROOT
from core.models import ModelSpec, ModelUnavailable, register_tuned
from core.settings import Settings, model_comparison_file

AT = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
Figures = dict[str, int | float | None]
SMALL: Figures = {"facts_seen": 0.75, "facts_answer": 0.5, "answer_correct": 0.5,
                  "abstention": 1.0, "false_abstention": 0.0, "ttft_p50_s": 1.2346,
                  "tokens_per_s": 21.06, "questions": 3}  # fmt: skip
BIG: Figures = {**SMALL, "facts_answer": None, "abstention": None, "tokens_per_s": 4.0}


def record() -> dict[str, Any]:
    """Two models' figures on one question set."""
    figures = {"smollm2-135m": SMALL, "qwen2.5-coder-0.5b": BIG}
    return comparison("handbook.jsonl", "handbook", figures, [], at=AT)


def test_the_json_names_the_run_and_keeps_each_models_figures_in_order() -> None:
    made = record()
    assert made == {
        "at": "2025-03-04T05:06:07Z", "file": "handbook.jsonl", "collection": "handbook",
        "models": ["smollm2-135m", "qwen2.5-coder-0.5b"],
        "figures": {"smollm2-135m": SMALL, "qwen2.5-coder-0.5b": BIG}, "skipped": [],
    }  # fmt: skip
    assert isinstance(made["figures"]["smollm2-135m"]["questions"], int)  # not 3.0
    assert json.loads(json.dumps(made)) == made
    assert ModelComparison.model_validate(made).model_dump(mode="json") == made  # what the API says


def test_the_table_has_a_row_per_figure_and_a_column_per_model() -> None:
    rows = table_rows(record())
    assert [r[0] for r in rows] == list(ROWS) == [
        "facts_seen", "facts_answer", "answer_correct", "abstention", "false_abstention",
        "ttft_p50_s", "tokens_per_s", "questions",
    ]  # fmt: skip
    by_row = {r[0]: r[1:] for r in rows}
    assert by_row["facts_seen"] == ["0.750", "0.750"]
    assert by_row["facts_answer"] == ["0.500", "-"]  # nothing to count is a dash, not 0
    assert by_row["abstention"] == ["1.000", "-"]
    assert by_row["ttft_p50_s"] == ["1.235", "1.235"]
    assert by_row["tokens_per_s"] == ["21.1", "4.0"]
    assert by_row["questions"] == ["3", "3"]
    printed = StringIO()
    Console(file=printed, width=120).print(comparison_table(record()))
    text = printed.getvalue()
    assert "smollm2-135m" in text and "qwen2.5-coder-0.5b" in text and "handbook.jsonl" in text
    header = next(line for line in text.splitlines() if "figure" in line)
    assert header.index("smollm2-135m") < header.index("qwen2.5-coder-0.5b")


def test_the_comparison_is_kept_whole_where_the_api_reads_it(tmp_path: Path) -> None:
    kept = save(tmp_path, record())
    assert kept == tmp_path / "eval" / "models-last.json" == model_comparison_file(tmp_path)
    assert json.loads(kept.read_text()) == record()
    assert [p.name for p in kept.parent.iterdir()] == ["models-last.json"]  # no .partial left


def test_model_names_are_split_trimmed_and_kept_once() -> None:
    assert model_names(" a, b,,a ,c ") == ["a", "b", "c"]
    with pytest.raises(Refused, match="at least one model"):
        model_names(" , ")


def test_unknown_and_missing_models_are_refused_naming_them(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, model_cache=tmp_path / "cache")
    assert list(installed_specs(["smollm2-135m"], settings)) == ["smollm2-135m"]  # packaged
    with pytest.raises(Refused, match=r"unknown model 'nope'.*gptu models list"):
        installed_specs(["smollm2-135m", "nope"], settings)
    with pytest.raises(Refused, match="does not exist"):
        installed_specs([str(tmp_path / "gone.gguf")], settings)
    learnt = {"base": "smollm2-135m", "collections": ["hr"], "collection_ids": ["id-hr"]}
    gone = ModelSpec(name="hr-smollm2", path=str(tmp_path / "hr.gguf"), tuned=learnt)
    register_tuned(tmp_path / "models", gone)  # a tuned model whose file was deleted
    with pytest.raises(Refused, match=r"hr\.gguf does not exist"):
        installed_specs(["hr-smollm2"], settings)
    (tmp_path / "old.gguf").write_bytes(b"GGUF")
    old = ModelSpec(name="old-smollm2", path=str(tmp_path / "old.gguf"),
                    tuned={"base": "smollm2-135m", "collections": ["hr"]})  # fmt: skip
    register_tuned(tmp_path / "models", old)  # registered by an older gptu: names only
    with pytest.raises(Refused, match=r"old-smollm2 records only the names .* \(hr\)"):
        installed_specs(["old-smollm2"], settings)
    parts = ModelSpec(name="split", parts=["gptu_no_such_part1"], file="split.gguf",
                      install="make model-split")  # fmt: skip
    with pytest.raises(ModelUnavailable, match=r"split is not installed \(make model-split\)"):
        require_installed(parts, tmp_path / "cache")
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "split.gguf").write_bytes(b"GGUF")  # assembled earlier: installed
    require_installed(parts, tmp_path / "cache")


def gptu_eval(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`gptu eval` on a data folder of its own."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GPTU_")}
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"question": "Who?", "expected_answer": "Ann"}\n')
    return subprocess.run([*GPTU, "eval", str(questions), *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=120,
                          env={**clean, "GPTU_DATA_DIR": str(tmp_path / "data")})  # fmt: skip


def test_the_command_refuses_an_unknown_model_before_anything_runs(tmp_path: Path) -> None:
    done = gptu_eval(tmp_path, "--collection", "hr", "--models", "smollm2-135m,nope")
    assert done.returncode == 2 and not done.stdout
    assert "error: unknown model 'nope'" in done.stderr
    assert not model_comparison_file(tmp_path / "data").exists()
    floors = gptu_eval(tmp_path, "-c", "hr", "--models", "smollm2-135m", "--fail-under", "x=1")
    said = " ".join(floors.stderr.replace("│", " ").split())  # typer's box, wrapped
    assert floors.returncode == 2 and "--fail-under and --compare work without --models" in said
