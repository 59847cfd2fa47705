"""ranx's metrics as we call them, checked against values computed by hand."""

from __future__ import annotations

import math

import pytest

from evaluation.errors import ReplayError
from evaluation.metrics import official_map, ranking_scores

RANKINGS = {"q1": ["a", "b", "c", "d", "e"], "q2": ["x", "y", "z"], "q3": ["a"]}
RELEVANT = {"q1": frozenset({"a", "c"}), "q2": frozenset({"z", "w"}), "q3": frozenset()}
IDEAL_2 = 1 + 1 / math.log2(3)  # DCG of two relevant cases at ranks 1 and 2


def test_per_query_values_match_hand_computation() -> None:
    scores = ranking_scores(RANKINGS, RELEVANT)
    q1 = {name: values["q1"] for name, values in scores.per_query.items()}
    q2 = {name: values["q2"] for name, values in scores.per_query.items()}
    # q1: relevant at ranks 1 and 3
    assert q1["map"] == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert q1["mrr"] == pytest.approx(1.0)
    assert q1["p@1"] == pytest.approx(1.0)
    assert q1["p@5"] == pytest.approx(2 / 5)
    assert q1["recall@5"] == pytest.approx(1.0)
    assert q1["ndcg@10"] == pytest.approx((1 + 1 / math.log2(4)) / IDEAL_2)
    # q2: one relevant at rank 3, the other never retrieved (counts as missed)
    assert q2["map"] == pytest.approx((1 / 3) / 2)
    assert q2["mrr"] == pytest.approx(1 / 3)
    assert q2["p@1"] == 0.0
    assert q2["p@5"] == pytest.approx(1 / 5)
    assert q2["recall@10"] == pytest.approx(0.5)
    assert q2["ndcg@10"] == pytest.approx((1 / math.log2(4)) / IDEAL_2)


def test_means_leave_out_queries_without_relevant_cases() -> None:
    scores = ranking_scores(RANKINGS, RELEVANT)
    assert scores.n_queries == 2
    assert scores.means["map"] == pytest.approx(((1 + 2 / 3) / 2 + 1 / 6) / 2)
    assert scores.means["mrr"] == pytest.approx((1 + 1 / 3) / 2)
    assert scores.means["recall@5"] == pytest.approx(0.75)
    assert set(scores.as_dict()) == {
        "map", "mrr", "p@1", "p@5", "recall@5", "recall@10", "ndcg@10", "n_queries",
    }  # fmt: skip


def test_official_map_counts_unjudgeable_queries_as_zero() -> None:
    scores = ranking_scores(RANKINGS, RELEVANT)
    assert official_map(scores, 3) == pytest.approx(((1 + 2 / 3) / 2 + 1 / 6) / 3)


def test_semeval_ir_baseline_is_reproduced_on_the_bundled_slice(semeval_sample) -> None:
    """The official scorer's IR figure for these 10 questions, from the gold file by hand."""
    dataset, gold = semeval_sample
    rankings = {
        q.query_id: [
            c.case_id
            for c in sorted(
                (c for c in dataset.cases if c.metadata["orgq"] == q.query_id),
                key=lambda c: c.metadata["ir_rank"],
            )
        ]
        for q in dataset.queries
    }
    scores = ranking_scores(rankings, {q.query_id: q.relevant for q in dataset.queries})
    expected = []
    for query in dataset.queries:
        labels = [label for _, label in sorted(gold[query.query_id])]
        hits = [i for i, label in enumerate(labels, start=1) if label]
        precisions = [n / rank for n, rank in enumerate(hits, start=1)]
        expected.append(sum(precisions) / len(precisions) if precisions else 0.0)
    assert official_map(scores, len(dataset.queries)) == pytest.approx(sum(expected) / 10)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ReplayError, match="no query has a relevant case"):
        ranking_scores({"q": ["a"]}, {"q": frozenset()})
    with pytest.raises(ReplayError, match="no ranking"):
        ranking_scores({}, {"q": frozenset({"a"})})
    with pytest.raises(ReplayError, match="twice"):
        ranking_scores({"q": ["a", "a"]}, {"q": frozenset({"a"})})
