"""Fitting a :class:`VerdictPolicy` on labelled samples: a precision promise and a no-match guard.

A sample is the ``figures`` of one ``assess`` call, whether answering from its answered hit
(``hits[0]``) would have been right, and whether the query had *no* right answer at all in the
index (a no-match: a problem no case solves, e.g. an intent held out of the index).

1. ``confidence`` is a logistic regression over the policy's features (standardised,
   L2-regularised, projected gradient descent: deterministic) with every weight kept at zero or
   above: each feature is evidence, so more of it must never lower the confidence, even where
   correlated features would give one a negative weight in an unconstrained fit.
2. The **no-match guard**: ``no_match_threshold`` is the conformal quantile of the no-match
   samples' confidences, the ⌈(m + 1)·q⌉-th smallest of m, so that a new no-match query escalates
   with probability at least q = ``no_match_escalation`` (exchangeability; split conformal).
   With fewer than (1 + q)/(1 − q) no-match samples (39 at q = 95%) it is their highest
   confidence; without any, the guard is off (``no_match_samples`` = 0 says so).
3. The **precision promise**: ``answer_threshold`` is the lowest confidence at which the samples
   answered (those the guard lets through) give a one-sided Clopper–Pearson lower bound, at
   level ``confidence_level``, of at least ``target_precision``: the precision on new queries
   meets the target with that confidence, instead of just on the samples it was fitted on.
   When no threshold does, :class:`PromiseUnreachable` says so (rather than a policy that
   silently never answers).
4. ``evidence_floor`` is the 1st percentile of ``top_dense`` among right answers and
   ``lexical_floor`` the lowest ``top_dense`` at which samples without any lexical match reach
   the target precision (2.0, i.e. never, when none do).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from retrieval.errors import CalibrationError, PromiseUnreachable
from retrieval.verdict import FEATURES, VerdictPolicy

NEVER = 2.0  # above any cosine similarity or confidence
CORE = FEATURES[:4]  # the vote's two come last
Floats = npt.NDArray[np.float64]
Flags = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class CalibrationSample:
    """One assessed query: its figures, whether ``hits[0]`` was right, whether no case was."""

    figures: Mapping[str, float]
    correct: bool
    no_match: bool = False


def _fit_logistic(x: Floats, y: Floats, l2: float = 1e-2) -> tuple[Floats, float]:
    """Monotone logistic regression: non-negative weights on the raw figures, and a bias."""
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std == 0] = 1.0
    z = (x - mean) / std
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(5000):
        p = 1.0 / (1.0 + np.exp(-(z @ w + b)))
        w = np.maximum(w - 0.5 * (z.T @ (p - y) / len(y) + l2 * w), 0.0)  # the projection
        b -= 0.5 * float(np.mean(p - y))
    raw = w / std  # back to the raw figures' scale so the policy needs no scaler
    return raw, b - float(raw @ mean)


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X ≥ k) for X ~ Binomial(n, p), summed in log space (exact for the sizes used here)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p >= 1.0:
        return 1.0
    logs = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
        + i * math.log(p) + (n - i) * math.log1p(-p)
        for i in range(k, n + 1)
    ]  # fmt: skip
    top = max(logs)
    return min(1.0, math.exp(top) * sum(math.exp(v - top) for v in logs))


def _threshold(scores: Floats, correct: Flags, target: float, level: float | None) -> float | None:
    """Lowest s whose answered samples (score ≥ s) meet ``target``.

    With ``level``, "meet" means the one-sided binomial test rejects "precision < target" at
    1 − ``level`` (the Clopper–Pearson lower bound reaches the target); without, the observed
    precision does.
    """
    best: float | None = None
    for s in np.unique(scores)[::-1]:
        chosen = correct[scores >= s]
        if level is None:
            met = bool(chosen.mean() >= target)
        else:
            met = binomial_tail(int(chosen.sum()), len(chosen), target) <= 1.0 - level
        if met:
            best = float(s)
    return best


def no_match_guard(confidences: Floats, escalation: float) -> float:
    """The confidence below which a share ``escalation`` of new no-match queries falls."""
    if len(confidences) == 0 or escalation <= 0.0:
        return 0.0  # nothing to fit on, or nothing asked: the guard is off
    ordered = np.sort(confidences)
    rank = math.ceil((len(ordered) + 1) * escalation)
    # Just above the chosen score: a no-match query scoring exactly it escalates too.
    return float(np.nextafter(ordered[min(rank, len(ordered)) - 1], np.inf))


def _check_levels(target: float, confidence_level: float, no_match_escalation: float) -> None:
    if not 0.0 < target <= 1.0:
        raise CalibrationError("target_precision: must be in (0, 1]")
    for name, value in (("confidence_level", confidence_level),
                        ("no_match_escalation", no_match_escalation)):  # fmt: skip
        if not 0.0 <= value < 1.0:
            raise CalibrationError(f"{name}: must be in [0, 1)")


def _features(samples: Sequence[CalibrationSample], min_samples: int) -> tuple[str, ...]:
    """The features to fit: the core ones, plus the vote's when every sample has them."""
    if len(samples) < min_samples:
        raise CalibrationError(f"samples: {len(samples)} given, at least {min_samples} needed")
    for i, sample in enumerate(samples):
        missing = [f for f in CORE if f not in sample.figures]
        if missing:
            raise CalibrationError(f"samples[{i}].figures: missing {missing}")
    # Figures recorded before the vote existed fit a policy without its features.
    return tuple(f for f in FEATURES if all(f in s.figures for s in samples))


def fit_thresholds(
    scores: npt.ArrayLike,
    correct: npt.ArrayLike,
    no_match: npt.ArrayLike,
    *,
    target_precision: float,
    confidence_level: float = 0.9,
    no_match_escalation: float = 0.95,
) -> tuple[float, float]:
    """``(answer_threshold, no_match_threshold)`` for any score where higher means answer.

    The guard first (from the no-match queries' scores), then the precision promise on the
    queries the guard lets through (module docstring); ``inf`` when no threshold keeps the
    promise. `calibrate` applies it to the confidence; evaluation to its baselines' scores.
    """
    _check_levels(target_precision, confidence_level, no_match_escalation)
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(correct, dtype=bool)
    nm = np.asarray(no_match, dtype=bool)
    guard = no_match_guard(s[nm], no_match_escalation)
    passed = s >= guard
    level = confidence_level or None
    threshold = _threshold(s[passed], y[passed], target_precision, level)
    return (math.inf if threshold is None else max(threshold, guard)), guard


def calibrate(
    samples: Sequence[CalibrationSample],
    target_precision: float,
    *,
    confidence_level: float = 0.9,
    no_match_escalation: float = 0.95,
    conflict_margin: float = 0.03,
    min_samples: int = 20,
) -> VerdictPolicy:
    """Fit the verdict so answers meet ``target_precision`` and no-match queries escalate."""
    _check_levels(target_precision, confidence_level, no_match_escalation)
    features = _features(samples, min_samples)
    y = np.array([s.correct for s in samples], dtype=bool)
    if y.all() or not y.any():
        raise CalibrationError("samples: both right and wrong top hits are needed")
    x = np.array([[float(s.figures[f]) for f in features] for s in samples])
    weights, bias = _fit_logistic(x, y.astype(np.float64))
    fitted = VerdictPolicy(weights=tuple(float(w) for w in weights), bias=bias, features=features)
    confidence = np.array([fitted.confidence(s.figures) for s in samples])
    no_match = np.array([s.no_match for s in samples], dtype=bool)
    threshold, guard = fit_thresholds(
        confidence, y, no_match, target_precision=target_precision,
        confidence_level=confidence_level, no_match_escalation=no_match_escalation,
    )  # fmt: skip
    top_dense = x[:, features.index("top_dense")]
    no_lexical = x[:, features.index("lexical_match")] == 0
    lexical = _threshold(top_dense[no_lexical], y[no_lexical], target_precision, None)
    if math.isinf(threshold):
        raise PromiseUnreachable(
            f"samples: no threshold keeps precision ≥ {target_precision:.0%} with "
            f"{confidence_level:.0%} confidence on these {len(samples)} samples "
            f"({int(y.sum())} right); fit on more, or lower confidence_level"
        )
    return VerdictPolicy(
        weights=fitted.weights,
        bias=bias,
        answer_threshold=threshold,
        no_match_threshold=guard,
        evidence_floor=float(np.quantile(top_dense[y], 0.01)),
        lexical_floor=NEVER if lexical is None else lexical,
        conflict_margin=conflict_margin,
        target_precision=target_precision,
        confidence_level=confidence_level,
        no_match_escalation=no_match_escalation,
        samples=len(samples),
        no_match_samples=int(no_match.sum()),
        features=features,
    )
