"""How much escalations drop, at an operating point fitted on other queries than it is scored on.

Definitions (every query escalated before caseloop existed, so the rate without it is 1):

- a query is *answered* when the retrieval module's verdict says ``answer``; the answer is *right*
  when the top hit is one of the query's relevant cases;
- ``escalation_drop`` = (rate without − rate with) / rate without = answered / all queries;
- ``answered_precision`` = right / answered; ``wrong_answer_rate`` = wrong answers / all queries
  (the price paid); ``no_match_escalated`` = escalated no-match queries / no-match queries, where
  a no-match query had no relevant case visible when it was asked;
- ``correct_drop`` = right answers / all queries: the drop if every wrong answer escalated anyway.

Honesty of the operating point: the verdict's thresholds for the target precision are fitted by
`retrieval.calibrate` on the *other* folds of a time-ordered K-fold split of the queries
(cross-fitting), then each fold is replayed with its own policy; or a policy fitted on other data
is passed in. Every figure carries a 95% bootstrap interval over queries. The plain top-1 cosine
threshold (fitted the same way) is the baseline printed beside it; the in-sample ("oracle")
curve is reported only under that name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import retrieval
from evaluation.bootstrap import Estimate, bootstrap_ratios, ratio
from evaluation.casebase import encode_cases, scratch_index, settings_for
from evaluation.curve import CurvePoint, curve, fit_threshold
from evaluation.dataset import Dataset
from evaluation.errors import ReplayError
from evaluation.replay import ReplayStep, replay, reset

FIGURES = ("escalation_drop", "answered_precision", "wrong_answer_rate", "no_match_escalated")


@dataclass(frozen=True, slots=True)
class OperatingPoint:
    """The figures of one decision rule over the replayed queries."""

    estimates: Mapping[str, Estimate]
    reasons: Mapping[str, int]

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: e.as_dict() for name, e in self.estimates.items()}
        out["reasons"] = dict(self.reasons)
        return out


def operating_point(
    answered: np.ndarray,
    correct: np.ndarray,
    no_match: np.ndarray,
    reasons: Sequence[str | None],
    *,
    seed: int = 0,
) -> OperatingPoint:
    """Bootstrap the figures of one rule; ``correct`` is "the top hit is relevant"."""
    right = answered & correct
    estimates = bootstrap_ratios(
        {
            "escalation_rate_with": ratio(~answered),
            "escalation_drop": ratio(answered),
            "answered_precision": ratio(right, answered),
            "wrong_answer_rate": ratio(answered & ~correct),
            "no_match_escalated": ratio(no_match & ~answered, no_match),
            "correct_drop": ratio(right),
        },
        seed=seed,
    )
    counts: dict[str, int] = {}
    for reason in reasons:
        key = reason or "answer"
        counts[key] = counts.get(key, 0) + 1
    return OperatingPoint(estimates, counts)


def time_folds(n: int, folds: int) -> np.ndarray:
    """Fold number of each query in replay order: ``folds`` contiguous blocks of time."""
    if folds < 2:
        raise ReplayError("folds: at least 2 are needed for cross-fitting")
    if n < folds * 10:
        raise ReplayError(
            f"folds: {n} queries are too few for {folds} folds (10 per fold at least)"
        )
    return np.minimum(np.arange(n) * folds // n, folds - 1)


def _samples(steps: Sequence[ReplayStep], mask: np.ndarray) -> list[retrieval.CalibrationSample]:
    return [
        retrieval.CalibrationSample(figures=step.figures, correct=step.correct)
        for step, keep in zip(steps, mask, strict=True)
        if keep
    ]


def fit_fold_policies(
    steps: Sequence[ReplayStep], fold: np.ndarray, target: float
) -> list[retrieval.VerdictPolicy]:
    """One policy per fold, each calibrated on every other fold's queries only."""
    policies = []
    for k in range(int(fold.max()) + 1):
        try:
            policies.append(retrieval.calibrate(_samples(steps, fold != k), target))
        except retrieval.CalibrationError as exc:
            raise ReplayError(f"fold {k}: calibration on the other folds failed: {exc}") from exc
    return policies


def baseline_thresholds(steps: Sequence[ReplayStep], fold: np.ndarray, target: float) -> np.ndarray:
    """Each query's top-1 cosine threshold, fitted on the other folds."""
    score = np.array([s.dense_score for s in steps])
    right = np.array([s.dense_correct for s in steps])
    fitted = [
        fit_threshold(score[fold != k], right[fold != k], target)
        for k in range(int(fold.max()) + 1)
    ]
    return np.array([fitted[k] for k in fold])


@dataclass(frozen=True, slots=True)
class EscalationReport:
    """The replay's figures: ours, the baseline's, the curves, and how the point was fitted."""

    ours: OperatingPoint
    baseline: OperatingPoint
    curve: Sequence[CurvePoint]
    baseline_curve: Sequence[CurvePoint]
    oracle_curve: Sequence[CurvePoint]
    n_queries: int
    n_no_match: int
    target_precision: float
    calibration: str
    steps: Sequence[ReplayStep]

    def as_dict(self) -> dict[str, Any]:
        """The JSON report; the operating point's figures are top-level keys."""
        return {
            "n_queries": self.n_queries,
            "n_no_match": self.n_no_match,
            "target_precision": self.target_precision,
            "calibration": self.calibration,
            "escalation_rate_without": 1.0,
            "top_hit_right": {
                "verdict_top_hit": float(np.mean([s.correct for s in self.steps])),
                "dense_top_1": float(np.mean([s.dense_correct for s in self.steps])),
            },
            **self.ours.as_dict(),
            "baseline": {"name": "top-1 cosine threshold", **self.baseline.as_dict()},
            "curve": [p.as_dict() for p in self.curve],
            "baseline_curve": [p.as_dict() for p in self.baseline_curve],
            "oracle_curve": {
                "label": "oracle: thresholds fitted and scored on the same queries (optimistic)",
                "points": [p.as_dict() for p in self.oracle_curve],
            },
        }


def _arrays(steps: Sequence[ReplayStep]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    answered = np.array([s.answered for s in steps])
    correct = np.array([s.correct for s in steps])
    no_match = np.array([s.no_match for s in steps])
    return answered, correct, no_match


def escalation_replay(
    dataset: Dataset,
    *,
    target_precision: float = 0.95,
    folds: int = 5,
    policy: retrieval.VerdictPolicy | None = None,
    settings: retrieval.RetrievalSettings | None = None,
    workdir: Path | None = None,
    seed: int = 0,
) -> EscalationReport:
    """Replay the queries, fit the operating point honestly, and report with intervals."""
    if not 0.0 < target_precision <= 1.0:
        raise ReplayError("target_precision: must be in (0, 1]")
    with scratch_index(settings_for(dataset, settings), workdir) as index:
        casebase = encode_cases(index, dataset.cases)
        first = replay(dataset, index, casebase, lambda position, query: policy)
        fold = time_folds(len(first), folds)
        if policy is not None:
            steps, calibration = first, "calibration file fitted on other data"
        else:
            policies = fit_fold_policies(first, fold, target_precision)
            reset(index, [case.case_id for case in dataset.cases])
            steps = replay(
                dataset, index, casebase, lambda position, query: policies[fold[position]]
            )
            calibration = f"cross-fitted over {folds} time-ordered folds"
    return _report(first, steps, fold, target_precision, calibration, seed)


def _report(
    first: Sequence[ReplayStep],
    steps: Sequence[ReplayStep],
    fold: np.ndarray,
    target: float,
    calibration: str,
    seed: int,
) -> EscalationReport:
    answered, correct, no_match = _arrays(steps)
    ours = operating_point(answered, correct, no_match, [s.reason for s in steps], seed=seed)
    dense_score = np.array([s.dense_score for s in first])
    dense_right = np.array([s.dense_correct for s in first])
    base_answered = dense_score >= baseline_thresholds(first, fold, target)
    baseline = operating_point(
        base_answered,
        dense_right,
        no_match,
        [None if a else "below_threshold" for a in base_answered],
        seed=seed,
    )
    confidence = np.array([s.figures.get("confidence", 0.0) for s in steps])
    eligible = np.array([s.reason in (None, "low_confidence") for s in steps])
    try:
        everything = retrieval.calibrate(_samples(first, np.ones(len(first), dtype=bool)), target)
        in_sample = np.array([everything.confidence(s.figures) for s in first])
        oracle = curve(in_sample, np.array([s.correct for s in first]))
    except retrieval.CalibrationError:
        oracle = []  # e.g. every top hit right (or none): nothing to fit, no oracle to show
    return EscalationReport(
        ours=ours,
        baseline=baseline,
        curve=curve(confidence, correct, eligible),
        baseline_curve=curve(dense_score, dense_right),
        oracle_curve=oracle,
        n_queries=len(steps),
        n_no_match=int(no_match.sum()),
        target_precision=target,
        calibration=calibration,
        steps=steps,
    )
