"""Evidence never lowers confidence; the verdict answers from the hit its figures describe."""

from __future__ import annotations

import random

import numpy as np
import pytest

import retrieval
from retrieval.engine import Ranked
from retrieval.fusion import Candidate
from retrieval.verdict import FEATURES, decide

REFUND = "My refund never arrived after I returned the shoes"


def hit(case_id: str, dense: float, tags: tuple[str, ...], ranks: dict[str, int]) -> retrieval.Hit:
    return retrieval.Hit(case_id, 0.03, ranks, "s", tags, {}, {"dense": dense})


def test_one_case_index_answers_its_own_text_and_escalates_unrelated_text(
    location: str, settings: retrieval.RetrievalSettings
) -> None:
    with retrieval.open_index(location, settings=settings) as index:
        index.upsert([retrieval.CaseDocument("T-1", REFUND, "Refund re-issued", ["refund"])])
        exact = index.assess(REFUND)
        assert (exact.action, exact.reason) == ("answer", None), exact.figures
        assert exact.hits[0].case_id == "T-1"
        unrelated = index.assess("quantum chromodynamics lattice gauge theory")
        assert (unrelated.action, unrelated.reason) == ("escalate", "no_evidence")


def _collinear_samples(n: int = 400) -> list[retrieval.CalibrationSample]:
    """Right answers where the cosine is high, and margins that shrink as the cosine grows
    (dense clusters of near-duplicates): unconstrained, ``dense_margin`` gets a negative weight."""
    rng = random.Random(5)
    samples = []
    for _ in range(n):
        top = rng.uniform(0.3, 1.0)
        margin = max(0.0, 0.4 - 0.35 * top + rng.gauss(0.0, 0.03))
        right = rng.random() < min(1.0, max(0.0, 2.0 * top - 0.9 - 1.5 * margin))
        figures = {"top_dense": top, "dense_margin": margin, "lexical_match": 1.0}
        samples.append(retrieval.CalibrationSample({**figures, "agreement": 0.5}, right))
    return samples


def _policies() -> list[retrieval.VerdictPolicy]:
    return [retrieval.VerdictPolicy(), retrieval.calibrate(_collinear_samples(), 0.9)]


@pytest.mark.parametrize("policy", _policies(), ids=["default", "fitted-on-collinear"])
def test_more_evidence_never_lowers_confidence(policy: retrieval.VerdictPolicy) -> None:
    assert all(w >= 0.0 for w in policy.weights), policy.weights
    rng = random.Random(11)
    for _ in range(500):
        figures = {"top_dense": rng.uniform(0, 1), "dense_margin": rng.uniform(0, 1)}
        figures |= {
            "lexical_match": float(rng.random() < 0.5),
            "agreement": rng.choice([0, 0.5, 1]),
        }
        before = policy.confidence(figures)
        for feature in ("top_dense", "dense_margin"):
            raised = {**figures, feature: figures[feature] + rng.uniform(0.0, 0.5)}
            assert policy.confidence(raised) >= before


def test_the_collinear_samples_would_give_a_negative_weight_unconstrained() -> None:
    """Guards the test above: without the constraint the margin's weight is negative."""
    samples = _collinear_samples()
    x = np.array([[s.figures[f] for f in FEATURES[:2]] for s in samples])
    y = np.array([s.correct for s in samples], dtype=float)
    design = np.column_stack([x, np.ones(len(x))])
    w = np.zeros(3)
    for _ in range(20):  # Newton steps of plain logistic regression
        p = 1 / (1 + np.exp(-design @ w))
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + 1e-6 * np.eye(3)
        w += np.linalg.solve(hessian, design.T @ (y - p))
    assert w[1] < 0.0


def test_answers_from_the_best_cosine_hit_and_says_so() -> None:
    """BM25 promoted "b" to the fused top; the dense winner "a" is answered and comes first."""
    ranked = Ranked([Candidate("a", 0.9), Candidate("b", 0.6)], [Candidate("b", 5.0)])
    hits = [
        hit("b", 0.6, ("card",), {"bm25": 1, "dense": 2}),
        hit("a", 0.9, ("refund",), {"dense": 1}),
        hit("c", 0.85, ("refund",), {"dense": 3}),
    ]
    verdict = decide(ranked, hits, retrieval.VerdictPolicy(answer_threshold=0.0))
    assert [h.case_id for h in verdict.hits] == ["a", "b", "c"]
    assert verdict.action == "answer"
    assert verdict.figures["top_dense"] == pytest.approx(0.9)
    # "c" agrees with "a" (same tag) so only "b" competes; "a" is not BM25's
    assert verdict.figures["dense_margin"] == pytest.approx(0.3)
    assert verdict.figures["agreement"] == 0.0


def test_a_close_disagreeing_hit_is_still_a_conflict_after_reordering() -> None:
    ranked = Ranked([Candidate("a", 0.80), Candidate("b", 0.79)], [Candidate("b", 3.0)])
    hits = [
        hit("b", 0.79, ("chargeback",), {"bm25": 1, "dense": 2}),
        hit("a", 0.80, ("refund",), {"dense": 1}),
    ]
    verdict = decide(ranked, hits, retrieval.VerdictPolicy(answer_threshold=0.0))
    assert (verdict.reason, verdict.hits[0].case_id) == ("conflict", "a")
    assert verdict.figures["conflict_gap"] == pytest.approx(0.01)
