"""The escalation drop between two periods (e.g. the first and the last day), with an interval.

Unlike `bootstrap_ratios`, which resamples one set of queries, the two periods here are two
independent samples of conversations.

Definition: drop = 1 − (escalation rate in the later period) / (rate in the earlier period).
The interval resamples the conversations of each of the two periods independently, with
replacement, and reads the 2.5th and 97.5th percentiles of the drop (percentile bootstrap). Both
days are small samples, so the interval is wide on purpose: it says how much a different draw of
customers could move the figure.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from evaluation.errors import ReplayError


@dataclass(frozen=True, slots=True)
class Drop:
    """The relative escalation drop and its interval (fractions, not percentages)."""

    first_rate: float
    last_rate: float
    value: float
    low: float
    high: float
    confidence: float
    resamples: int


def escalation_drop(
    first: list[bool],
    last: list[bool],
    *,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 7,
) -> Drop:
    """``first``/``last``: one flag per conversation of that period, True when it escalated."""
    if not first or not last:
        raise ReplayError("both periods need at least one conversation")
    rng = random.Random(seed)
    draws = sorted(_drop(_resample(first, rng), _resample(last, rng)) for _ in range(resamples))
    tail = (1.0 - confidence) / 2
    low = draws[int(tail * (resamples - 1))]
    high = draws[int((1.0 - tail) * (resamples - 1))]
    return Drop(
        first_rate=_rate(first),
        last_rate=_rate(last),
        value=_drop(first, last),
        low=low,
        high=high,
        confidence=confidence,
        resamples=resamples,
    )


def _resample(flags: list[bool], rng: random.Random) -> list[bool]:
    return [flags[rng.randrange(len(flags))] for _ in flags]


def _rate(flags: list[bool]) -> float:
    return sum(flags) / len(flags)


def _drop(first: list[bool], last: list[bool]) -> float:
    base = _rate(first)
    # A resampled first period without a single escalation has nothing to drop from.
    return 1.0 - _rate(last) / base if base else 0.0
