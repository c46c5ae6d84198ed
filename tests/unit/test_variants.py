"""A/B variants: loaded from TOML, checked, and assigned stably and evenly."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from answer.variants import Experiment, Variant, load_experiment
from core.errors import InvalidRequest

FILE = """
name = "prompt-test"

[[variant]]
name = "control"

[[variant]]
name = "short"
chat_k = 2
fusion = [1.0, 0.5]
prompt = "Answer from the passages in one sentence; else say: {not_found}"
"""


def test_variants_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "ab.toml"
    path.write_text(FILE)
    experiment = load_experiment(path)
    assert experiment.name == "prompt-test"
    assert [v.name for v in experiment.variants] == ["control", "short"]
    assert experiment.variants[1].fusion == (1.0, 0.5) and experiment.variants[1].chat_k == 2


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("", "at least one"),
        ('[[variant]]\nname = "a"\ncolour = "red"', "unknown keys"),
        ('[[variant]]\nname = "a"\nweight = 0', "weight"),
        ('[[variant]]\nname = "a"\nfusion = [1]', "fusion"),
        ('[[variant]]\nname = "a"\nprompt = "no refusal"', "{not_found}"),
        ('[[variant]]\nname = "a"\n[[variant]]\nname = "a"', "unique"),
        ("not toml [", "cannot read"),
    ],
)
def test_bad_variants_files_say_what_is_wrong(tmp_path: Path, body: str, fragment: str) -> None:
    path = tmp_path / "ab.toml"
    path.write_text(body)
    with pytest.raises(InvalidRequest) as caught:
        load_experiment(path)
    assert fragment in caught.value.message


def test_assignment_is_stable_and_roughly_even() -> None:
    experiment = Experiment("exp", [Variant("a"), Variant("b")])
    users = [f"user{i}" for i in range(4000)]
    first = [experiment.assign(u).name for u in users]
    assert first == [experiment.assign(u).name for u in users]
    counts = Counter(first)
    assert 0.46 < counts["a"] / len(users) < 0.54
    other = Experiment("another", [Variant("a"), Variant("b")])
    moved = sum(experiment.assign(u) != other.assign(u) for u in users)
    assert 0.4 < moved / len(users) < 0.6  # a new experiment reshuffles people


def test_weights_share_the_traffic() -> None:
    experiment = Experiment("w", [Variant("a", weight=3), Variant("b", weight=1)])
    counts = Counter(experiment.assign(f"u{i}").name for i in range(4000))
    assert 0.71 < counts["a"] / 4000 < 0.79
