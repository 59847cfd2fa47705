"""Coverage/precision curves over a threshold.

Coverage is the share of all queries answered (equal to the escalation drop when every query
escalated without caseloop); precision is the share of answered queries whose top hit is
relevant; no-match escalated is the share of the queries no case answers that the threshold
escalates (what the no-match guard promises). Thresholds themselves are fitted by
`retrieval.fit_thresholds`, the same rule for the verdict and for its baselines.
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
    no_match_escalated: float | None = None

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "threshold": self.threshold,
            "coverage": self.coverage,
            "precision": self.precision,
            "answered": self.answered,
            "no_match_escalated": self.no_match_escalated,
        }


def curve(
    scores: NDArray[np.float64],
    correct: NDArray[np.bool_],
    eligible: NDArray[np.bool_] | None = None,
    no_match: NDArray[np.bool_] | None = None,
    points: int = 50,
) -> list[CurvePoint]:
    """Coverage, precision (and no-match escalated) answering eligible queries scoring ≥ each threshold."""
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
                no_match_escalated=_escalated(answered, no_match),
            )
        )
    return out


def _escalated(answered: NDArray[np.bool_], no_match: NDArray[np.bool_] | None) -> float | None:
    if no_match is None or not no_match.any():
        return None
    return float((~answered[no_match]).mean())
