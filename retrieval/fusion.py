"""Fusion of the dense and the BM25 ranking, in the open: two rules, ranks and raw scores kept.

``dense_first`` (the default) keeps the dense order and lets BM25 break a near-tie at the top:
BM25's own top hit moves to first place when its cosine is within ``tie_margin`` of the dense
top-1 and BM25 is sure of it (its score at least ``lexical_lead`` × BM25's second score). Nothing
else moves, so on any data set it differs from dense alone only where the two sides nearly tie,
which is how it was chosen: by the worst case over every labelled set (`docs/retrieval.md`).
Cases only BM25 found follow the dense ones, in BM25 order. A hit's fused score is its cosine
(``-1`` for BM25-only hits), an ordering key within ``tie_margin`` of the real order.

``rrf`` is weighted reciprocal rank fusion, ``Σ_r weight_r / (k + rank_r(case))``; ties are broken
by the best single rank, then case id. Under either rule a case returned twice by one retriever
keeps its best rank there (duplicates merged), and equal inputs give equal outputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from retrieval.settings import RetrievalSettings


class Scored(Protocol):
    """Anything with a case id and a retriever score (a :class:`Candidate` or a ``Hit``)."""

    @property
    def case_id(self) -> str: ...

    @property
    def score(self) -> float: ...


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


def _ranked(
    ranked: Mapping[str, Sequence[Scored]],
) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, float]]]:
    """Each case's best rank and score per retriever (first occurrence wins)."""
    ranks: dict[str, dict[str, int]] = {}
    scores: dict[str, dict[str, float]] = {}
    for name, candidates in ranked.items():
        for position, cand in enumerate(candidates, start=1):
            seen = ranks.setdefault(cand.case_id, {})
            if name not in seen:  # a duplicate: the first (best) rank stands
                seen[name] = position
                scores.setdefault(cand.case_id, {})[name] = float(cand.score)
    return ranks, scores


def reciprocal_rank_fusion(
    ranked: Mapping[str, Sequence[Scored]], *, k: int, weights: Mapping[str, float]
) -> list[Fused]:
    """Fuse per-retriever ranked lists (best first) into one list, best first."""
    ranks, scores = _ranked(ranked)
    fused = [
        Fused(
            case_id,
            sum(weights.get(name, 1.0) / (k + rank) for name, rank in case_ranks.items()),
            case_ranks,
            scores[case_id],
        )
        for case_id, case_ranks in ranks.items()
    ]
    fused.sort(key=lambda f: (-f.score, min(f.ranks.values()), f.case_id))
    return fused


def dense_first(
    dense: Sequence[Scored],
    bm25: Sequence[Scored],
    *,
    tie_margin: float,
    lexical_lead: float,
) -> list[Fused]:
    """Dense order; BM25's sure top hit takes first place when it nearly ties (module doc)."""
    ranks, scores = _ranked({"dense": dense, "bm25": bm25})
    order = sorted(
        ranks, key=lambda c: (ranks[c].get("dense", len(dense) + 1), ranks[c].get("bm25", 0), c)
    )
    if order and bm25:
        lead = bm25[0].case_id
        second = float(bm25[1].score) if len(bm25) > 1 else 0.0
        cosine = scores[lead].get("dense")
        top = scores[order[0]].get("dense")
        if (
            lead != order[0]
            and cosine is not None
            and top is not None
            and cosine >= top - tie_margin
            and float(bm25[0].score) >= lexical_lead * second
        ):
            order.remove(lead)
            order.insert(0, lead)
    return [Fused(c, scores[c].get("dense", -1.0), ranks[c], scores[c]) for c in order]


def fuse(
    dense: Sequence[Scored], bm25: Sequence[Scored], settings: RetrievalSettings
) -> list[Fused]:
    """The two rankings (best first) fused by the rule ``settings.fusion`` names, best first."""
    if settings.fusion == "rrf":
        weights = {"dense": settings.weight_dense, "bm25": settings.weight_bm25}
        return reciprocal_rank_fusion(
            {"dense": dense, "bm25": bm25}, k=settings.rrf_k, weights=weights
        )
    return dense_first(
        dense, bm25, tie_margin=settings.tie_margin, lexical_lead=settings.lexical_lead
    )
