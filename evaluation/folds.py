"""The verdict's promise, and whether it held on each fold of a cross-fitted replay.

A :class:`Promise` is what the operator asks for: answered precision of at least
``target_precision``, kept with confidence ``confidence_level`` (a lower binomial bound on the
calibration folds), and a share ``no_match_escalation`` of the queries no case answers escalated.

Each fold of the replay is scored by a policy calibrated on the *other* folds, so each fold is one
out-of-sample trial of the promise: :func:`fold_checks` says, per fold, how many queries were
answered, their precision, whether it met the target ("held"), and the same for the guard. A
fold's precision is itself a small sample: a promise kept with 90% confidence can still miss on
a fold by chance, which is why the count of folds where it held is reported rather than hidden.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evaluation.errors import ReplayError


@dataclass(frozen=True, slots=True)
class Promise:
    """Target precision, the confidence it is kept with, and the no-match guard's share."""

    target_precision: float = 0.95
    confidence_level: float = 0.9
    no_match_escalation: float = 0.95

    def __post_init__(self) -> None:
        if not 0.0 < self.target_precision <= 1.0:
            raise ReplayError("target_precision: must be in (0, 1]")
        for name in ("confidence_level", "no_match_escalation"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ReplayError(f"{name}: must be in [0, 1)")

    def kwargs(self) -> dict[str, float]:
        """Keyword arguments of `retrieval.calibrate` and `retrieval.fit_thresholds`."""
        return {
            "target_precision": self.target_precision,
            "confidence_level": self.confidence_level,
            "no_match_escalation": self.no_match_escalation,
        }

    def summary(self, folds: Sequence[FoldCheck]) -> dict[str, Any]:
        """The promise and how many folds kept each part of it."""
        return {
            **self.kwargs(),
            "folds": len(folds),
            "precision_held": sum(1 for f in folds if f.held),
            "guard_held": sum(1 for f in folds if f.guard_held),
        }


@dataclass(frozen=True, slots=True)
class FoldCheck:
    """One fold: what its policy did there, and whether the promise held."""

    fold: int
    queries: int
    answered: int
    precision: float | None
    held: bool
    no_match: int
    no_match_escalated: float | None
    guard_held: bool
    answer_threshold: float
    guard_threshold: float

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def fold_checks(
    answered: np.ndarray[Any, np.dtype[np.bool_]],
    correct: np.ndarray[Any, np.dtype[np.bool_]],
    no_match: np.ndarray[Any, np.dtype[np.bool_]],
    fold: np.ndarray[Any, np.dtype[np.int64]],
    promise: Promise,
    thresholds: Sequence[tuple[float, float]],
) -> list[FoldCheck]:
    """Per fold: answered, precision, no-match escalated, and whether each met the promise.

    A fold that answered nothing kept the precision promise vacuously (``held``, precision
    None); a fold without no-match queries kept the guard vacuously.
    """
    checks = []
    for k, (answer_threshold, guard) in enumerate(thresholds):
        here = fold == k
        a, nm = answered[here], no_match[here]
        precision = float(correct[here][a].mean()) if a.any() else None
        escalated = float((~a[nm]).mean()) if nm.any() else None
        checks.append(
            FoldCheck(
                fold=k, queries=int(here.sum()), answered=int(a.sum()), precision=precision,
                held=precision is None or precision >= promise.target_precision,
                no_match=int(nm.sum()), no_match_escalated=escalated,
                guard_held=escalated is None or escalated >= promise.no_match_escalation,
                answer_threshold=answer_threshold, guard_threshold=guard,
            )
        )  # fmt: skip
    return checks
