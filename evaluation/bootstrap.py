"""Percentile bootstrap intervals for figures that are ratios of per-query counts.

Every escalation figure is a ratio of two sums over queries (answered / all, correct / answered,
…). `bootstrap_ratios` resamples the queries with replacement ``rounds`` times (seeded), recomputes
each ratio on every resample and reports the 2.5th and 97.5th percentiles: a 95% interval of the
figure's sampling variability over queries. Resamples where a denominator is 0 are left out of
that figure's interval (and counted).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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


def _counts(ratios: Iterable[Ratio], rounds: int, seed: int) -> NDArray[np.float64]:
    """How often each query is drawn in each resample: one matrix shared by every figure."""
    sizes = {len(r.numerator) for r in ratios}
    if len(sizes) != 1:
        raise ReplayError("every ratio must be over the same queries")
    (n,) = sizes
    if n == 0:
        raise ReplayError("no queries to bootstrap")
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=rounds).astype(np.float64)


def _value(r: Ratio) -> float | None:
    total = float(r.denominator.sum())
    return float(r.numerator.sum()) / total if total > 0 else None


def _estimate(value: float | None, samples: NDArray[np.float64], n: int, level: float) -> Estimate:
    samples = samples[~np.isnan(samples)]
    tail = (1.0 - level) / 2.0
    low = float(np.quantile(samples, tail)) if samples.size else None
    high = float(np.quantile(samples, 1.0 - tail)) if samples.size else None
    return Estimate(value=value, low=low, high=high, n=n)


def bootstrap_ratios(
    ratios: Mapping[str, Ratio], *, rounds: int = 2000, seed: int = 0, level: float = 0.95
) -> dict[str, Estimate]:
    """Point values and percentile intervals of each ratio, from one shared set of resamples."""
    counts = _counts(ratios.values(), rounds, seed)
    return {
        name: _estimate(
            _value(r),
            _safe(counts @ r.numerator, counts @ r.denominator),
            int(r.denominator.sum()),
            level,
        )
        for name, r in ratios.items()
    }


def paired_differences(
    pairs: Mapping[str, tuple[Ratio, Ratio]],
    *,
    rounds: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Estimate]:
    """``first − second`` of each pair of ratios over the same queries, with a paired interval."""
    counts = _counts([r for pair in pairs.values() for r in pair], rounds, seed)
    out = {}
    for name, (a, b) in pairs.items():
        va, vb = _value(a), _value(b)
        value = va - vb if va is not None and vb is not None else None
        samples = _safe(counts @ a.numerator, counts @ a.denominator) - _safe(
            counts @ b.numerator, counts @ b.denominator
        )
        out[name] = _estimate(value, samples, len(a.numerator), level)
    return out
