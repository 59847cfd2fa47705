"""Ranking metrics over retrieved case lists, computed by ranx (a maintained IR metrics library).

`ranking_scores` averages MAP, MRR, P@1, P@5, Recall@5, Recall@10 and nDCG@10 over the queries that
have at least one relevant case (the others cannot be ranked well or badly) and reports how many
that was. `official_map` is the figure SemEval's scorer prints: the mean over *all* queries, where
a query with no relevant candidate scores 0. A relevant case that a retriever did not return counts
as not found (ranx's convention, and the honest one).

ranx compiles its kernels with numba on first use (several seconds in a fresh process), so it is
imported inside the functions that need it.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from evaluation.errors import ReplayError

#: Our metric names (the keys of the JSON report) and the ranx name of each.
METRICS: Mapping[str, str] = {
    "map": "map",
    "mrr": "mrr",
    "p@1": "precision@1",
    "p@5": "precision@5",
    "recall@5": "recall@5",
    "recall@10": "recall@10",
    "ndcg@10": "ndcg@10",
}


@dataclass(frozen=True, slots=True)
class RankingScores:
    """Mean metrics over the queries with a relevant case, their count, and per-query values."""

    means: Mapping[str, float]
    n_queries: int
    per_query: Mapping[str, Mapping[str, float]]

    def as_dict(self) -> dict[str, float | int]:
        return {**self.means, "n_queries": self.n_queries}


def _run_dict(rankings: Mapping[str, Sequence[str]]) -> dict[str, dict[str, float]]:
    run: dict[str, dict[str, float]] = {}
    for query_id, ranked in rankings.items():
        seen: dict[str, float] = {}
        for position, case_id in enumerate(ranked):
            if case_id in seen:
                raise ReplayError(f"ranking of {query_id!r} lists {case_id!r} twice")
            seen[case_id] = float(len(ranked) - position)  # ranx sorts by score, descending
        run[query_id] = seen
    return run


def ranking_scores(
    rankings: Mapping[str, Sequence[str]], relevant: Mapping[str, frozenset[str] | set[str]]
) -> RankingScores:
    """Score ranked case ids against the relevant sets (queries without relevant cases left out)."""
    judged = {qid: rel for qid, rel in relevant.items() if rel}
    if not judged:
        raise ReplayError("no query has a relevant case: ranking metrics are undefined")
    missing = sorted(set(judged) - set(rankings))
    if missing:
        raise ReplayError(f"no ranking for queries {missing[:5]}")
    from ranx import Qrels, Run, evaluate

    qrels = Qrels({qid: dict.fromkeys(sorted(rel), 1) for qid, rel in judged.items()})
    run = Run(_run_dict({qid: rankings[qid] for qid in judged}))
    with warnings.catch_warnings():
        # numba warns about an integer cast inside ranx's compiled kernels; it does not change results
        warnings.simplefilter("ignore")
        means = evaluate(qrels, run, list(METRICS.values()), make_comparable=True)
    per_query = {
        ours: {qid: float(value) for qid, value in run.scores[theirs].items()}
        for ours, theirs in METRICS.items()
    }
    return RankingScores(
        means={ours: float(means[theirs]) for ours, theirs in METRICS.items()},
        n_queries=len(judged),
        per_query=per_query,
    )


def official_map(scores: RankingScores, n_all_queries: int) -> float:
    """SemEval's official MAP: the mean over all queries, counting those with no relevant case as 0."""
    if n_all_queries < scores.n_queries:
        raise ReplayError("n_all_queries is smaller than the number of judged queries")
    return sum(scores.per_query["map"].values()) / n_all_queries
