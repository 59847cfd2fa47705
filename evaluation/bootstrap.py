"""Percentile bootstrap intervals for figures that are ratios of per-query counts.

Every escalation figure is a ratio of two sums over queries (answered / all, correct / answered,
…). `bootstrap_ratios` resamples the queries with replacement ``rounds`` times (seeded), recomputes
each ratio on every resample and reports the 2.5th and 97.5th percentiles: a 95% interval of the
figure's sampling variability over queries. Resamples where a denominator is 0 are left out of
that figure's interval (and counted).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from evaluation.errors import ReplayError


@dataclass(frozen=True, slots=True)
class Estimate:
    """A figure, its 95% interval and the number of units it is a share of."""

    value: float | None
    low: float | None
    high: float | None
    n: int

    def as_dict(self) -> dict[str, float | int | None]:
        return {"value": self.value, "low": self.low, "high": self.high, "n": self.n}


@dataclass(frozen=True, slots=True)
class Ratio:
    """``sum(numerator) / sum(denominator)`` over per-query 0/1 (or count) vectors."""

    numerator: NDArray[np.float64]
    denominator: NDArray[np.float64]


def ratio(
    numerator: NDArray[np.bool_] | NDArray[np.float64],
    denominator: NDArray[np.bool_] | NDArray[np.float64] | None = None,
) -> Ratio:
    """A ratio over queries; the denominator defaults to every query."""
    num = np.asarray(numerator, dtype=np.float64)
    den = np.ones_like(num) if denominator is None else np.asarray(denominator, dtype=np.float64)
    if num.shape != den.shape:
        raise ReplayError("numerator and denominator must cover the same queries")
    return Ratio(num, den)


def _safe(num: NDArray[np.float64], den: NDArray[np.float64]) -> NDArray[np.float64]:
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def bootstrap_ratios(
    ratios: Mapping[str, Ratio], *, rounds: int = 2000, seed: int = 0, level: float = 0.95
) -> dict[str, Estimate]:
    """Point values and percentile intervals of each ratio, from one shared set of resamples."""
    sizes = {len(r.numerator) for r in ratios.values()}
    if len(sizes) != 1:
        raise ReplayError("every ratio must be over the same queries")
    (n,) = sizes
    if n == 0:
        raise ReplayError("no queries to bootstrap")
    rng = np.random.default_rng(seed)
    # One count matrix for all figures, so their intervals come from the same resamples.
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=rounds).astype(np.float64)
    tail = (1.0 - level) / 2.0
    estimates = {}
    for name, r in ratios.items():
        den_total = float(r.denominator.sum())
        value = float(r.numerator.sum()) / den_total if den_total > 0 else None
        samples = _safe(counts @ r.numerator, counts @ r.denominator)
        samples = samples[~np.isnan(samples)]
        low = float(np.quantile(samples, tail)) if samples.size else None
        high = float(np.quantile(samples, 1.0 - tail)) if samples.size else None
        estimates[name] = Estimate(value=value, low=low, high=high, n=int(den_total))
    return estimates
