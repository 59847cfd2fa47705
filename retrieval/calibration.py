"""Fitting a :class:`VerdictPolicy` on labelled samples for a target precision.

A sample is the ``figures`` of one ``assess`` call and whether answering from its answered hit
(``hits[0]``) would have been right. :func:`calibrate` fits ``confidence`` as a logistic
regression over the policy's features (standardised, L2-regularised, projected gradient descent:
deterministic), with every weight kept at zero or above: each feature is evidence, so more of it
must never lower the confidence, even where correlated features would give one a negative weight
in an unconstrained fit. It then picks
``answer_threshold`` as the lowest confidence at which the samples answered reach
``target_precision``; ``evidence_floor`` is the 1st percentile of ``top_dense`` among right
answers and ``lexical_floor`` the lowest ``top_dense`` at which samples without any lexical match
reach the target precision (2.0, i.e. never, when none do).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from retrieval.errors import CalibrationError
from retrieval.verdict import FEATURES, VerdictPolicy

NEVER = 2.0  # above any cosine similarity


@dataclass(frozen=True, slots=True)
class CalibrationSample:
    """The figures of one assessed query and whether its answered hit (``hits[0]``) was right."""

    figures: Mapping[str, float]
    correct: bool


def _fit_logistic(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], l2: float = 1e-2
) -> tuple[npt.NDArray[np.float64], float]:
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


def _threshold(
    scores: npt.NDArray[np.float64], correct: npt.NDArray[np.bool_], target: float
) -> float | None:
    """Lowest score s such that samples with score ≥ s have precision ≥ target."""
    best: float | None = None
    for s in np.unique(scores)[::-1]:
        chosen = correct[scores >= s]
        if chosen.mean() >= target:
            best = float(s)
    return best


def calibrate(
    samples: Sequence[CalibrationSample],
    target_precision: float,
    *,
    conflict_margin: float = 0.03,
    min_samples: int = 20,
) -> VerdictPolicy:
    """Fit the verdict's thresholds so answered queries reach ``target_precision``."""
    if not 0.0 < target_precision <= 1.0:
        raise CalibrationError("target_precision: must be in (0, 1]")
    if len(samples) < min_samples:
        raise CalibrationError(f"samples: {len(samples)} given, at least {min_samples} needed")
    for i, sample in enumerate(samples):
        missing = [f for f in FEATURES if f not in sample.figures]
        if missing:
            raise CalibrationError(f"samples[{i}].figures: missing {missing}")
    y = np.array([s.correct for s in samples], dtype=bool)
    if y.all() or not y.any():
        raise CalibrationError("samples: both right and wrong top hits are needed")
    x = np.array([[float(s.figures[f]) for f in FEATURES] for s in samples])
    weights, bias = _fit_logistic(x, y.astype(np.float64))
    policy = VerdictPolicy(weights=tuple(float(w) for w in weights), bias=bias)
    confidence = np.array([policy.confidence(s.figures) for s in samples])
    threshold = _threshold(confidence, y, target_precision)
    top_dense = x[:, FEATURES.index("top_dense")]
    no_lexical = x[:, FEATURES.index("lexical_match")] == 0
    lexical = _threshold(top_dense[no_lexical], y[no_lexical], target_precision)
    return VerdictPolicy(
        weights=policy.weights,
        bias=bias,
        answer_threshold=1.0 if threshold is None else threshold,
        evidence_floor=float(np.quantile(top_dense[y], 0.01)),
        lexical_floor=NEVER if lexical is None else lexical,
        conflict_margin=conflict_margin,
        target_precision=target_precision,
        samples=len(samples),
    )
