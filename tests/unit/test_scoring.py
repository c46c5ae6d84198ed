"""Scores of the eval report and the A/B report, against hand-computed cases."""

from __future__ import annotations

import math

import pytest

from core.scoring import (
    abstained,
    echoes_prompt,
    is_correct,
    normalise,
    overlap,
    percentile,
    two_proportion_p,
    wilson,
)


def test_answers_are_compared_after_normalising() -> None:
    assert normalise("  Iwan ROBERTS, born 26-June 1968! ") == "iwan roberts born 26 june 1968"
    assert is_correct("26 June 1968", "He was born on 26 June, 1968 [1].")
    assert overlap("Delia Smith and Michael Wynn-Jones", "Delia Smith owns it.") == pytest.approx(
        2 / 5
    )
    assert not is_correct("Delia Smith and Michael Wynn-Jones", "Delia Smith owns it.")
    assert is_correct("850,000", "for £850,000") and not is_correct("850,000", "for 85,000")


def test_refusals_are_recognised() -> None:
    assert abstained("I could not find this in the documents.")
    assert not abstained("The office opens at 7:15 [1].")


def test_percentiles_interpolate() -> None:
    assert percentile([4, 1, 3, 2], 50) == 2.5
    assert percentile([1, 2, 3, 4, 5], 95) == pytest.approx(4.8)
    assert percentile([], 50) is None


def test_wilson_interval_matches_a_hand_computation() -> None:
    # 40 of 50, z = 1.959964: centre = (0.8 + z²/100) / (1 + z²/50) = 0.77866,
    # half = z·sqrt(0.8·0.2/50 + z²/10000) / (1 + z²/50) = 0.10903
    low, high = wilson(40, 50)
    assert low == pytest.approx(0.66963, abs=1e-4) and high == pytest.approx(0.88756, abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)


def test_two_proportion_z_test_matches_a_hand_computation() -> None:
    # 40/50 vs 25/50: pooled 0.65, se = sqrt(0.65·0.35·(2/50)) = 0.095394, z = 3.1449,
    # p = 2·(1 - Φ(3.1449)) = 0.001662
    assert two_proportion_p(40, 50, 25, 50) == pytest.approx(0.001662, abs=2e-5)
    assert two_proportion_p(10, 20, 10, 20) == pytest.approx(1.0)
    assert two_proportion_p(5, 0, 1, 2) is None and two_proportion_p(0, 5, 0, 5) is None
    assert math.isclose(two_proportion_p(25, 50, 40, 50) or 0, 0.001662, abs_tol=2e-5)


def test_answers_that_echo_the_prompt_or_list_files_are_not_answers() -> None:
    files = ["norwich-city.txt", "hours.md"]
    assert echoes_prompt("The passage is: <passages> [1] (norwich-city.txt)", files)
    assert echoes_prompt("norwich-city.txt [1], hours.md [2]", files)
    assert echoes_prompt("Question: when was he born?", files)
    assert not echoes_prompt("He was born on 26 June 1968 in Bangor [1].", files)
