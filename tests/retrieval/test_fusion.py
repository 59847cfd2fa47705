"""Reciprocal rank fusion: explicit constant, weights, ranks kept, ties and duplicates."""

from __future__ import annotations

import pytest

from retrieval.fusion import Candidate, reciprocal_rank_fusion


def ranked(*ids: str) -> list[Candidate]:
    return [Candidate(i, 1.0 / (n + 1)) for n, i in enumerate(ids)]


def test_scores_are_weighted_reciprocal_ranks() -> None:
    fused = reciprocal_rank_fusion(
        {"dense": ranked("a", "b"), "bm25": ranked("b", "c")},
        k=10,
        weights={"dense": 2.0, "bm25": 1.0},
    )
    by_id = {f.case_id: f for f in fused}
    assert by_id["a"].score == pytest.approx(2 / 11)
    assert by_id["b"].score == pytest.approx(2 / 12 + 1 / 11)
    assert by_id["c"].score == pytest.approx(1 / 12)
    assert by_id["b"].ranks == {"dense": 2, "bm25": 1}
    assert by_id["c"].ranks == {"bm25": 2}
    assert [f.case_id for f in fused] == ["b", "a", "c"]


def test_the_constant_changes_the_order() -> None:
    # a: rank 1 in one list; b: rank 5 in both. a wins iff 1/(k+1) > 2/(k+5), i.e. k < 3.
    lists = {"dense": ranked("a", "x", "y", "z", "b"), "bm25": ranked("p", "q", "s", "t", "b")}
    small = reciprocal_rank_fusion(lists, k=1, weights={})
    large = reciprocal_rank_fusion(lists, k=60, weights={})
    assert [f.case_id for f in small][:2] == ["a", "p"]  # ties on score: best rank, then id
    assert [f.case_id for f in large][:3] == ["b", "a", "p"]


def test_ties_break_on_best_rank_then_case_id() -> None:
    fused = reciprocal_rank_fusion(
        {"dense": ranked("b", "a"), "bm25": ranked("a", "b")}, k=60, weights={}
    )
    assert fused[0].score == fused[1].score
    assert [f.case_id for f in fused] == ["a", "b"]
    again = reciprocal_rank_fusion(
        {"bm25": ranked("a", "b"), "dense": ranked("b", "a")}, k=60, weights={}
    )
    assert [(f.case_id, f.score) for f in again] == [(f.case_id, f.score) for f in fused]


def test_duplicates_are_merged_keeping_the_best_rank() -> None:
    fused = reciprocal_rank_fusion({"dense": ranked("a", "a", "b")}, k=60, weights={})
    assert [f.case_id for f in fused] == ["a", "b"]
    assert fused[0].ranks == {"dense": 1}
    assert fused[1].ranks == {"dense": 3}


def test_zero_weight_silences_a_retriever() -> None:
    fused = reciprocal_rank_fusion(
        {"dense": ranked("a", "b"), "bm25": ranked("b", "a")},
        k=60,
        weights={"dense": 1.0, "bm25": 0.0},
    )
    assert [f.case_id for f in fused] == ["a", "b"]
    assert fused[1].ranks == {"dense": 2, "bm25": 1}
