"""Retrieval quality: each retriever's ranking of the cases for every query, scored by ranx.

All cases are indexed at once (retrieval quality is about ranking, not time), each query is
searched with its own ``filters`` by ``bm25``, ``dense`` and ``hybrid``, and the top ``depth``
case ids are scored (`evaluation.metrics`). A ``baseline_key`` names a numeric case metadata key
that orders each query's candidates as a reference system did (SemEval's ``ir_rank``: the
organisers' search engine), scored the same way as ``baseline``.

The fused result is compared with each retriever alone on the same queries: ``vs_dense`` and
``vs_bm25`` in the ``hybrid`` row hold hybrid minus that retriever for MAP, MRR, P@1 and
nDCG@10, each with a paired bootstrap interval over queries (`evaluation.bootstrap`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import retrieval
from evaluation.bootstrap import Estimate, Ratio, paired_differences, ratio
from evaluation.casebase import encode_cases, scratch_index, search_filters, settings_for
from evaluation.dataset import Dataset, Query
from evaluation.errors import ReplayError
from evaluation.metrics import RankingScores, official_map, ranking_scores

MODES = ("bm25", "dense", "hybrid")


COMPARED = ("map", "mrr", "p@1", "ndcg@10")


def compare(fused: RankingScores, single: RankingScores, *, seed: int = 0) -> dict[str, Estimate]:
    """``fused − single`` per metric over the same queries, with paired bootstrap intervals."""
    queries = sorted(fused.per_query["map"])

    def values(scores: RankingScores, metric: str) -> Ratio:
        return ratio(np.array([scores.per_query[metric][q] for q in queries]))

    pairs = {m: (values(fused, m), values(single, m)) for m in COMPARED}
    return paired_differences(pairs, seed=seed)


@dataclass(frozen=True, slots=True)
class RetrievalReport:
    """Scores per retriever over the queries with a relevant case, and the official MAP."""

    scores: Mapping[str, RankingScores]
    n_all_queries: int
    rankings: Mapping[str, Mapping[str, tuple[str, ...]]] = field(repr=False)

    def differences(self) -> dict[str, dict[str, Estimate]]:
        """Hybrid minus each single retriever (``vs_dense``, ``vs_bm25``), where both ran."""
        if "hybrid" not in self.scores:
            return {}
        return {
            f"vs_{name}": compare(self.scores["hybrid"], self.scores[name])
            for name in ("dense", "bm25")
            if name in self.scores
        }

    def as_dict(self) -> dict[str, Any]:
        """The JSON report: per retriever ``map``, ``mrr``, ``p@1`` … and ``n_queries``."""
        out: dict[str, Any] = {
            name: {
                **score.as_dict(),
                "official_map": official_map(score, self.n_all_queries),
                "n_all_queries": self.n_all_queries,
            }
            for name, score in self.scores.items()
        }
        for name, diff in self.differences().items():
            out["hybrid"][name] = {metric: e.as_dict() for metric, e in diff.items()}
        return out


def _matches(metadata: Mapping[str, Any], filters: Mapping[str, Any]) -> bool:
    return all(metadata.get(key) == value for key, value in filters.items())


def baseline_rankings(dataset: Dataset, key: str) -> dict[str, tuple[str, ...]]:
    """Each query's filtered candidates ordered by the numeric metadata ``key`` (ascending)."""
    rankings = {}
    for query in dataset.queries:
        candidates = [
            case
            for case in dataset.cases
            if _matches(case.metadata, query.filters) and key in case.metadata
        ]
        if not candidates:
            raise ReplayError(f"baseline: no case with metadata.{key} for query {query.query_id}")
        ordered = sorted(candidates, key=lambda case: (case.metadata[key], case.case_id))
        rankings[query.query_id] = tuple(case.case_id for case in ordered)
    return rankings


def search_rankings(
    index: retrieval.Index, queries: Sequence[Query], mode: str, depth: int
) -> dict[str, tuple[str, ...]]:
    """Top ``depth`` case ids per query from one retriever."""
    return {
        query.query_id: tuple(
            hit.case_id
            for hit in index.search(query.text, k=depth, filters=search_filters(query), mode=mode)  # type: ignore[arg-type]
        )
        for query in queries
    }


def evaluate_retrieval(
    dataset: Dataset,
    *,
    settings: retrieval.RetrievalSettings | None = None,
    modes: Sequence[str] = MODES,
    depth: int = 10,
    baseline_key: str | None = None,
    workdir: Path | None = None,
) -> RetrievalReport:
    """Index every case, rank with each retriever and score the rankings."""
    if not dataset.queries:
        raise ReplayError("no queries to evaluate")
    relevant = {query.query_id: query.relevant for query in dataset.queries}
    rankings: dict[str, Mapping[str, tuple[str, ...]]] = {}
    with scratch_index(settings_for(dataset, settings), workdir) as index:
        casebase = encode_cases(index, dataset.cases)
        casebase.upsert(index, [case.case_id for case in dataset.cases])
        for mode in modes:
            rankings[mode] = search_rankings(index, dataset.queries, mode, depth)
    if baseline_key:
        rankings["baseline"] = baseline_rankings(dataset, baseline_key)
    return RetrievalReport(
        scores={name: ranking_scores(ranked, relevant) for name, ranked in rankings.items()},
        n_all_queries=len(dataset.queries),
        rankings=rankings,
    )
