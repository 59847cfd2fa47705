"""Reciprocal rank fusion in the open: explicit constant, per-retriever weights and ranks.

``fused(case) = Σ_r weight_r / (k + rank_r(case))`` over the retrievers that returned the case.
Ties are broken by the best single rank, then by case id, so equal inputs give equal outputs.
A case returned twice by one retriever keeps its best rank there (duplicates merged).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Candidate:
    """One retriever's result before fusion."""

    case_id: str
    score: float
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Fused:
    """A case after fusion, with what every retriever said about it."""

    case_id: str
    score: float
    ranks: dict[str, int]
    scores: dict[str, float]


def reciprocal_rank_fusion(
    ranked: Mapping[str, Sequence[Candidate]], *, k: int, weights: Mapping[str, float]
) -> list[Fused]:
    """Fuse per-retriever ranked lists (best first) into one list, best first."""
    ranks: dict[str, dict[str, int]] = {}
    scores: dict[str, dict[str, float]] = {}
    fused_scores: dict[str, float] = {}
    for name, candidates in ranked.items():
        weight = weights.get(name, 1.0)
        for position, cand in enumerate(candidates, start=1):
            seen = ranks.setdefault(cand.case_id, {})
            if name in seen:  # a duplicate: the first (best) rank stands
                continue
            seen[name] = position
            scores.setdefault(cand.case_id, {})[name] = cand.score
            fused_scores[cand.case_id] = fused_scores.get(cand.case_id, 0.0) + weight / (
                k + position
            )
    fused = [
        Fused(case_id, fused_scores[case_id], case_ranks, scores[case_id])
        for case_id, case_ranks in ranks.items()
    ]
    fused.sort(key=lambda f: (-f.score, min(f.ranks.values()), f.case_id))
    return fused
