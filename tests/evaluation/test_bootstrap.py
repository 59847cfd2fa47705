"""Bootstrap intervals: exact point values, intervals that contain them and shrink with n."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.bootstrap import bootstrap_ratios, paired_differences, ratio
from evaluation.drop import escalation_drop
from evaluation.errors import ReplayError


def test_point_values_are_the_plain_ratios() -> None:
    answered = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0], dtype=bool)
    correct = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0], dtype=bool)
    out = bootstrap_ratios({"drop": ratio(answered), "precision": ratio(correct, answered)})
    assert out["drop"].value == pytest.approx(0.3)
    assert out["drop"].n == 10
    assert out["precision"].value == pytest.approx(2 / 3)
    assert out["precision"].n == 3
    for estimate in out.values():
        assert estimate.low is not None
        assert estimate.high is not None
        assert estimate.low <= estimate.value <= estimate.high


def test_interval_matches_the_binomial_width_and_shrinks() -> None:
    rng = np.random.default_rng(1)
    small = rng.random(100) < 0.4
    large = rng.random(10_000) < 0.4
    a = bootstrap_ratios({"p": ratio(small)}, rounds=4000)["p"]
    b = bootstrap_ratios({"p": ratio(large)}, rounds=1000)["p"]
    half_a = (a.high - a.low) / 2
    expected = 1.96 * np.sqrt(a.value * (1 - a.value) / 100)
    assert half_a == pytest.approx(expected, rel=0.15)
    assert (b.high - b.low) < (a.high - a.low) / 5


def test_undefined_ratios_and_mismatched_lengths() -> None:
    out = bootstrap_ratios({"p": ratio(np.zeros(4, dtype=bool), np.zeros(4, dtype=bool))})
    assert out["p"].value is None
    assert out["p"].low is None
    with pytest.raises(ReplayError):
        bootstrap_ratios({"a": ratio(np.ones(3, dtype=bool)), "b": ratio(np.ones(4, dtype=bool))})
    with pytest.raises(ReplayError):
        ratio(np.ones(3, dtype=bool), np.ones(2, dtype=bool))


def test_drop_and_its_interval() -> None:
    first = [True] * 40
    last = [True] * 10 + [False] * 30
    drop = escalation_drop(first, last, resamples=1000)
    assert drop.first_rate == 1.0
    assert drop.last_rate == 0.25
    assert drop.value == pytest.approx(0.75)
    assert 0.55 < drop.low < 0.75 < drop.high < 0.9
    no_change = escalation_drop([True, False] * 10, [True, False] * 10)
    assert no_change.value == 0.0
    assert no_change.low < 0 < no_change.high


def test_paired_differences_keep_the_pairing() -> None:
    rng = np.random.default_rng(3)
    base = rng.random(400) < 0.6
    better = base | (rng.random(400) < 0.05)  # right wherever base is, and a few more
    out = paired_differences({"right": (ratio(better), ratio(base))})["right"]
    assert out.value == pytest.approx(better.mean() - base.mean())
    assert out.low is not None
    assert out.high is not None
    assert 0.0 <= out.low <= out.value <= out.high  # never worse on any resample
    separate = bootstrap_ratios({"a": ratio(better), "b": ratio(base)})
    assert separate["a"].low < separate["b"].high  # two separate intervals overlap …
    same = paired_differences({"same": (ratio(base), ratio(base))})["same"]
    assert (same.value, same.low, same.high) == (0.0, 0.0, 0.0)  # … the paired one does not
    with pytest.raises(ReplayError, match="same queries"):
        paired_differences({"x": (ratio(base), ratio(base[:10]))})
