"""Coverage/precision curves over a threshold, and fitting a threshold for a target precision.

Coverage is the share of all queries answered (equal to the escalation drop when every query
escalated without caseloop); precision is the share of answered queries whose top hit is
relevant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True, slots=True)
class CurvePoint:
    """One threshold and what answering at or above it gives."""

    threshold: float
    coverage: float
    precision: float | None
    answered: int

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "threshold": self.threshold,
            "coverage": self.coverage,
            "precision": self.precision,
            "answered": self.answered,
        }


def curve(
    scores: NDArray[np.float64],
    correct: NDArray[np.bool_],
    eligible: NDArray[np.bool_] | None = None,
    points: int = 50,
) -> list[CurvePoint]:
    """Coverage and precision when answering eligible queries whose score is ≥ each threshold."""
    n = len(scores)
    if n == 0:
        return []
    eligible = np.ones(n, dtype=bool) if eligible is None else eligible
    candidates = np.unique(scores[eligible]) if eligible.any() else np.array([])
    if len(candidates) > points:
        candidates = np.unique(np.quantile(candidates, np.linspace(0.0, 1.0, points)))
    out = []
    for threshold in candidates:
        answered = eligible & (scores >= threshold)
        count = int(answered.sum())
        out.append(
            CurvePoint(
                threshold=float(threshold),
                coverage=count / n,
                precision=float(correct[answered].mean()) if count else None,
                answered=count,
            )
        )
    return out


def fit_threshold(scores: NDArray[np.float64], correct: NDArray[np.bool_], target: float) -> float:
    """The lowest threshold whose answered queries reach ``target`` precision (inf: none does).

    The same rule as `retrieval.calibrate` uses for its answer threshold: the widest coverage
    whose answered queries still meet the target on the queries it is fitted on.
    """
    best = float("inf")
    for threshold in np.unique(scores)[::-1]:
        chosen = correct[scores >= threshold]
        if chosen.mean() >= target:
            best = float(threshold)
    return best
