"""Reciprocal rank fusion: explicit constant, weights, ranks kept, ties and duplicates."""

from __future__ import annotations

import pytest

from retrieval.fusion import Candidate, dense_first, fuse, reciprocal_rank_fusion
from retrieval.settings import RetrievalSettings


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


def dense_first_of(dense: list[Candidate], bm25: list[Candidate]) -> list[str]:
    return [f.case_id for f in dense_first(dense, bm25, tie_margin=0.03, lexical_lead=1.1)]


def test_dense_first_keeps_a_clear_dense_winner_over_bm25() -> None:
    # dense right ("a"), BM25 wrong ("b", far below in cosine): the dense winner stays first
    dense = [Candidate("a", 0.80), Candidate("b", 0.60), Candidate("c", 0.55)]
    bm25 = [Candidate("b", 9.0), Candidate("a", 2.0)]
    assert dense_first_of(dense, bm25) == ["a", "b", "c"]


def test_dense_first_lets_a_sure_bm25_hit_break_a_near_tie() -> None:
    # dense wrong by a hair ("a" 0.80 vs "b" 0.79), BM25 sure of "b": "b" goes first, nothing else moves
    dense = [Candidate("a", 0.80), Candidate("b", 0.79), Candidate("c", 0.70)]
    bm25 = [Candidate("b", 9.0), Candidate("c", 2.0)]
    fused = dense_first(dense, bm25, tie_margin=0.03, lexical_lead=1.1)
    assert [f.case_id for f in fused] == ["b", "a", "c"]
    assert fused[0].ranks == {"dense": 2, "bm25": 1}
    assert fused[0].score == pytest.approx(0.79)  # a hit's fused score is its cosine
    unsure = [Candidate("b", 9.0), Candidate("a", 8.5)]  # 9.0 < 1.1 × 8.5: BM25 is not sure
    assert dense_first_of(dense, unsure) == ["a", "b", "c"]
    wider = [Candidate("c", 9.0)]  # 0.10 below the top: not a near-tie
    assert dense_first_of(dense, wider) == ["a", "b", "c"]


def test_dense_first_puts_bm25_only_cases_last_in_bm25_order() -> None:
    dense = [Candidate("a", 0.8), Candidate("a", 0.7)]  # a duplicate keeps its best rank
    fused = dense_first(dense, [Candidate("x", 5.0), Candidate("y", 4.0), Candidate("a", 3.0)],
                        tie_margin=0.03, lexical_lead=1.1)  # fmt: skip
    assert [f.case_id for f in fused] == ["a", "x", "y"]
    assert fused[0].ranks == {"dense": 1, "bm25": 3}
    assert [f.score for f in fused[1:]] == [-1.0, -1.0]
    assert dense_first_of([], []) == []


def test_fuse_follows_the_settings() -> None:
    dense = [Candidate("a", 0.80), Candidate("b", 0.79)]
    # BM25 sure of "b" (9.0 ≥ 1.25 × 7.0) and the cosines within 0.05: the default swaps them
    bm25 = [Candidate("b", 9.0), Candidate("c", 7.0), Candidate("d", 1.0)]
    assert [f.case_id for f in fuse(dense, bm25, RetrievalSettings())] == ["b", "a", "c", "d"]
    rrf = RetrievalSettings(fusion="rrf", rrf_k=60, weight_dense=1.0, weight_bm25=1.0)
    assert [f.case_id for f in fuse(dense, bm25, rrf)] == ["b", "a", "c", "d"]
    assert fuse(dense, bm25, rrf)[0].score == pytest.approx(1 / 62 + 1 / 61)
    tight = RetrievalSettings(tie_margin=0.0)
    assert [f.case_id for f in fuse(dense, bm25, tight)][:2] == ["a", "b"]
    unsure = RetrievalSettings(lexical_lead=1.5)  # 9.0 < 1.5 × 7.0
    assert [f.case_id for f in fuse(dense, bm25, unsure)][:2] == ["a", "b"]
