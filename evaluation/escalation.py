"""How much escalations drop, at an operating point fitted on other queries than it is scored on.

Definitions (every query escalated before caseloop existed, so the rate without it is 1):

- a query is *answered* when the retrieval module's verdict says ``answer``; the answer is *right*
  when the top hit is one of the query's relevant cases;
- ``escalation_drop`` = (rate without − rate with) / rate without = answered / all queries;
- ``answered_precision`` = right / answered; ``wrong_answer_rate`` = wrong answers / all queries
  (the price paid); ``no_match_escalated`` = escalated no-match queries / no-match queries, where
  a no-match query had no relevant case visible when it was asked;
- ``correct_drop`` = right answers / all queries: the drop if every wrong answer escalated anyway.

Honesty of the operating point: the verdict's thresholds are fitted by `retrieval.calibrate` on
the *other* folds of a time-ordered K-fold split of the queries (cross-fitting): the precision
promise (target precision with ``confidence_level``) and the no-match guard (a share
``no_match_escalation`` of no-match queries escalates), then each fold is replayed with its own
policy; or a policy fitted on other data is passed in. Each fold then says whether the promise
held on it (`evaluation.folds`). Every figure carries a 95% bootstrap interval over queries.
Each retriever alone is the baseline printed beside it: answer from its top-1 hit when its score
clears a threshold fitted the same way (same promise, same guard); the differences come with
paired intervals. The in-sample ("oracle") curve is reported only under that name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import retrieval
from evaluation.bootstrap import Estimate, bootstrap_ratios, paired_differences, ratio
from evaluation.casebase import encode_cases, scratch_index, settings_for
from evaluation.curve import CurvePoint, curve
from evaluation.dataset import Dataset
from evaluation.errors import ReplayError
from evaluation.folds import FoldCheck, Promise, fold_checks
from evaluation.replay import ReplayStep, replay, reset

FIGURES = ("escalation_drop", "answered_precision", "wrong_answer_rate", "no_match_escalated")
Flags = np.ndarray[Any, np.dtype[np.bool_]]
Floats = np.ndarray[Any, np.dtype[np.float64]]
FoldOf = np.ndarray[Any, np.dtype[np.int64]]  # each query's fold number


@dataclass(frozen=True, slots=True)
class OperatingPoint:
    """The figures of one decision rule over the replayed queries."""

    estimates: Mapping[str, Estimate]
    reasons: Mapping[str, int]

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: e.as_dict() for name, e in self.estimates.items()}
        out["reasons"] = dict(self.reasons)
        return out


@dataclass(frozen=True, slots=True)
class Rule:
    """What one decision rule did to each query: answered, and was its answer right."""

    answered: Flags
    correct: Flags
    reasons: Sequence[str | None]


def _ratios(rule: Rule, no_match: Flags) -> dict[str, Any]:
    answered, correct = rule.answered, rule.correct
    return {
        "escalation_rate_with": ratio(~answered),
        "escalation_drop": ratio(answered),
        "answered_precision": ratio(answered & correct, answered),
        "wrong_answer_rate": ratio(answered & ~correct),
        "no_match_escalated": ratio(no_match & ~answered, no_match),
        "correct_drop": ratio(answered & correct),
    }


def operating_point(rule: Rule, no_match: Flags, *, seed: int = 0) -> OperatingPoint:
    """Bootstrap the figures of one rule."""
    counts: dict[str, int] = {}
    for reason in rule.reasons:
        key = reason or "answer"
        counts[key] = counts.get(key, 0) + 1
    return OperatingPoint(bootstrap_ratios(_ratios(rule, no_match), seed=seed), counts)


def differences(ours: Rule, other: Rule, no_match: Flags, *, seed: int = 0) -> dict[str, Estimate]:
    """Ours minus the other rule on each figure, with paired bootstrap intervals."""
    a, b = _ratios(ours, no_match), _ratios(other, no_match)
    return paired_differences({name: (a[name], b[name]) for name in FIGURES}, seed=seed)


def compare(new: EscalationReport, old: EscalationReport, *, seed: int = 0) -> dict[str, Estimate]:
    """``new`` minus ``old`` on each figure, two replays of the same queries (e.g. two encoders),
    with paired bootstrap intervals."""
    if [s.query_id for s in new.steps] != [s.query_id for s in old.steps]:
        raise ReplayError("compare: the two replays did not replay the same queries in order")
    return differences(_rule(new.steps), _rule(old.steps), _no_match(new.steps), seed=seed)


def fitted_policy(report: EscalationReport) -> retrieval.VerdictPolicy:
    """A policy calibrated on every query of the replay with its promise (e.g. to store with an
    index embedded by the replay's encoder); ``retrieval.CalibrationError`` when none can be."""
    return _fit_all(report.steps, report.promise)


def _fit_all(steps: Sequence[ReplayStep], promise: Promise) -> retrieval.VerdictPolicy:
    return _calibrate(_samples(steps, np.ones(len(steps), dtype=bool)), promise)


def _rule(steps: Sequence[ReplayStep]) -> Rule:
    return Rule(
        np.array([s.answered for s in steps], dtype=bool),
        np.array([s.correct for s in steps], dtype=bool),
        [s.reason for s in steps],
    )


def _no_match(steps: Sequence[ReplayStep]) -> Flags:
    return np.array([s.no_match for s in steps], dtype=bool)


def time_folds(n: int, folds: int) -> FoldOf:
    """Fold number of each query in replay order: ``folds`` contiguous blocks of time."""
    if folds < 2:
        raise ReplayError("folds: at least 2 are needed for cross-fitting")
    if n < folds * 10:
        raise ReplayError(
            f"folds: {n} queries are too few for {folds} folds (10 per fold at least)"
        )
    return np.minimum(np.arange(n) * folds // n, folds - 1)


def _samples(steps: Sequence[ReplayStep], mask: Flags) -> list[retrieval.CalibrationSample]:
    return [
        retrieval.CalibrationSample(figures=step.figures, correct=step.correct, no_match=step.no_match)
        for step, keep in zip(steps, mask, strict=True)
        if keep
    ]  # fmt: skip


def _calibrate(
    samples: Sequence[retrieval.CalibrationSample], promise: Promise
) -> retrieval.VerdictPolicy:
    return retrieval.calibrate(
        samples,
        promise.target_precision,
        confidence_level=promise.confidence_level,
        no_match_escalation=promise.no_match_escalation,
    )


def fit_fold_policies(
    steps: Sequence[ReplayStep], fold: FoldOf, promise: Promise
) -> list[retrieval.VerdictPolicy]:
    """One policy per fold, each calibrated on every other fold's queries only.

    Where the other folds cannot support the promise (`retrieval.PromiseUnreachable`), the
    fold's policy answers nothing: that is what keeping the promise means there.
    """
    policies = []
    for k in range(int(fold.max()) + 1):
        try:
            policies.append(_calibrate(_samples(steps, fold != k), promise))
        except retrieval.PromiseUnreachable:
            policies.append(NOTHING)
        except retrieval.CalibrationError as exc:
            raise ReplayError(f"fold {k}: calibration on the other folds failed: {exc}") from exc
    return policies


# A confidence never exceeds 1: this policy escalates every query (and stays valid JSON).
NOTHING = retrieval.VerdictPolicy(answer_threshold=2.0, samples=0)


def baseline(
    score: Floats, correct: Flags, no_match: Flags, fold: FoldOf,
    promise: Promise,
) -> tuple[Rule, list[float]]:  # fmt: skip
    """Answer from one retriever's top-1 when its score clears a threshold fitted on the other
    folds with the same promise and guard as the verdict; the rule and each fold's threshold."""
    thresholds = [
        retrieval.fit_thresholds(
            score[fold != k], correct[fold != k], no_match[fold != k], **promise.kwargs()
        )[0]
        for k in range(int(fold.max()) + 1)
    ]
    answered = score >= np.array([thresholds[k] for k in fold])
    return Rule(answered, correct, [None if a else "below_threshold" for a in answered]), thresholds


@dataclass(frozen=True, slots=True)
class EscalationReport:
    """The replay's figures: ours, each retriever's baseline, the differences, the folds, curves."""

    ours: OperatingPoint
    baselines: Mapping[str, OperatingPoint]
    differences: Mapping[str, Mapping[str, Estimate]]
    folds: Sequence[FoldCheck]
    curve: Sequence[CurvePoint]
    baseline_curve: Sequence[CurvePoint]
    oracle_curve: Sequence[CurvePoint]
    n_queries: int
    n_no_match: int
    promise: Promise
    calibration: str
    steps: Sequence[ReplayStep]

    def as_dict(self) -> dict[str, Any]:
        """The JSON report; the operating point's figures are top-level keys."""
        return {
            "n_queries": self.n_queries,
            "n_no_match": self.n_no_match,
            "target_precision": self.promise.target_precision,
            "calibration": self.calibration,
            "escalation_rate_without": 1.0,
            "promise": self.promise.summary(self.folds),
            "top_hit_right": {
                "verdict_top_hit": float(np.mean([s.correct for s in self.steps])),
                "dense_top_1": float(np.mean([s.dense_correct for s in self.steps])),
                "bm25_top_1": float(np.mean([s.bm25_correct for s in self.steps])),
            },
            **self.ours.as_dict(),
            "baseline": {"name": BASELINES["dense"], **self.baselines["dense"].as_dict()},
            "baselines": {
                name: {"name": BASELINES[name], **point.as_dict()}
                for name, point in self.baselines.items()
            },
            "differences": {
                name: {figure: e.as_dict() for figure, e in diff.items()}
                for name, diff in self.differences.items()
            },
            "folds": [f.as_dict() for f in self.folds],
            "curve": [p.as_dict() for p in self.curve],
            "baseline_curve": [p.as_dict() for p in self.baseline_curve],
            "oracle_curve": {
                "label": "oracle: thresholds fitted and scored on the same queries (optimistic)",
                "points": [p.as_dict() for p in self.oracle_curve],
            },
        }


BASELINES = {"dense": "top-1 cosine threshold", "bm25": "top-1 BM25 threshold"}


def escalation_replay(
    dataset: Dataset,
    *,
    target_precision: float = 0.95,
    confidence_level: float = 0.9,
    no_match_escalation: float = 0.95,
    folds: int = 5,
    policy: retrieval.VerdictPolicy | None = None,
    settings: retrieval.RetrievalSettings | None = None,
    workdir: Path | None = None,
    seed: int = 0,
) -> EscalationReport:
    """Replay the queries, fit the operating point honestly, and report with intervals."""
    promise = Promise(target_precision, confidence_level, no_match_escalation)
    with scratch_index(settings_for(dataset, settings), workdir) as index:
        casebase = encode_cases(index, dataset.cases)
        first = replay(dataset, index, casebase, lambda position, query: policy)
        fold = time_folds(len(first), folds)
        if policy is not None:
            steps, policies = first, [policy] * folds
            calibration = "calibration file fitted on other data"
        else:
            policies = fit_fold_policies(first, fold, promise)
            reset(index, [case.case_id for case in dataset.cases])
            steps = replay(
                dataset, index, casebase, lambda position, query: policies[fold[position]]
            )
            calibration = f"cross-fitted over {folds} time-ordered folds"
    return _report(first, steps, fold, promise, policies, calibration, seed)


def _oracle(first: Sequence[ReplayStep], promise: Promise) -> list[CurvePoint]:
    try:
        everything = _fit_all(first, promise)
    except retrieval.CalibrationError:
        return []  # e.g. every top hit right (or none): nothing to fit, no oracle to show
    in_sample = np.array([everything.confidence(s.figures) for s in first])
    return curve(in_sample, np.array([s.correct for s in first]))


def _report(
    first: Sequence[ReplayStep],
    steps: Sequence[ReplayStep],
    fold: FoldOf,
    promise: Promise,
    policies: Sequence[retrieval.VerdictPolicy],
    calibration: str,
    seed: int,
) -> EscalationReport:
    no_match, ours = _no_match(steps), _rule(steps)
    dense_score = np.array([s.dense_score for s in first])
    rules = {
        "dense": baseline(dense_score, np.array([s.dense_correct for s in first]), no_match,
                          fold, promise),
        "bm25": baseline(np.array([s.bm25_score for s in first]),
                         np.array([s.bm25_correct for s in first]), no_match, fold, promise),
    }  # fmt: skip
    confidence = np.array([s.figures.get("confidence", 0.0) for s in steps])
    eligible = np.array([s.reason in (None, "low_confidence") or s.figures.get("no_match_guard")
                         for s in steps], dtype=bool)  # fmt: skip
    ours_thresholds = [(p.answer_threshold, p.no_match_threshold) for p in policies]
    return EscalationReport(
        ours=operating_point(ours, no_match, seed=seed),
        baselines={n: operating_point(r, no_match, seed=seed) for n, (r, _) in rules.items()},
        differences={n: differences(ours, r, no_match, seed=seed) for n, (r, _) in rules.items()},
        folds=fold_checks(ours.answered, ours.correct, no_match, fold, promise, ours_thresholds),
        curve=curve(confidence, ours.correct, eligible, no_match),
        baseline_curve=curve(dense_score, rules["dense"][0].correct, None, no_match),
        oracle_curve=_oracle(first, promise),
        n_queries=len(steps),
        n_no_match=int(no_match.sum()),
        promise=promise,
        calibration=calibration,
        steps=steps,
    )
