"""The resolution vote picks the answer; the no-match guard and the precision promise are fitted."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

import retrieval
from retrieval.calibration import binomial_tail, no_match_guard
from retrieval.engine import Ranked
from retrieval.verdict import decide
from retrieval.vote import labels, vote

ANSWER = retrieval.VerdictPolicy(
    answer_threshold=0.0,
    no_match_threshold=0.0,
    evidence_floor=0.0,
    lexical_floor=0.0,
    conflict_margin=0.0,
)


def hit(case_id: str, dense: float | None, resolution: str | None = None,
        tags: tuple[str, ...] = ()) -> retrieval.Hit:  # fmt: skip
    metadata = {"resolution": resolution} if resolution else {}
    scores = {"dense": dense} if dense is not None else {"bm25": 3.0}
    return retrieval.Hit(case_id, 0.0, {"dense": 1}, "s", tags, metadata, scores)


def test_labels_are_the_resolution_else_the_tags_else_the_case() -> None:
    assert labels(hit("a", 0.5, "R1", ("refund",))) == {"resolution:R1"}
    assert labels(hit("a", 0.5, tags=("refund", "card"))) == {"tag:refund", "tag:card"}
    assert labels(hit("a", 0.5)) == {"case:a"}


def test_the_resolution_most_similar_cases_share_wins_and_its_first_hit_answers() -> None:
    hits = [hit("a", 0.80, "R1"), hit("b", 0.79, "R2"), hit("c", 0.78, "R2")]
    outcome = vote(hits)
    assert outcome is not None
    assert (outcome.answered, outcome.winner) == (1, {"resolution:R2"})
    w = [1.0, math.exp(-0.2), math.exp(-0.4)]
    assert outcome.share == pytest.approx((w[1] + w[2]) / sum(w))
    assert outcome.margin == pytest.approx((w[1] + w[2] - w[0]) / sum(w))
    verdict = decide(Ranked([], []), hits, ANSWER)
    assert [h.case_id for h in verdict.hits] == ["b", "a", "c"]
    assert verdict.figures["vote_share"] == pytest.approx(outcome.share)
    assert verdict.figures["dense_margin"] == pytest.approx(0.79 - 0.80)  # "a" competes


def test_without_labels_the_most_similar_case_wins() -> None:
    hits = [hit("b", 0.70), hit("a", 0.80), hit("c", 0.60)]
    verdict = decide(Ranked([], []), hits, ANSWER)
    assert verdict.hits[0].case_id == "a"
    w = [math.exp(-2.0), 1.0, math.exp(-4.0)]
    assert verdict.figures["vote_share"] == pytest.approx(1.0 / sum(w))
    assert verdict.figures["vote_margin"] == pytest.approx((1.0 - w[0]) / sum(w))
    assert verdict.figures["dense_margin"] == pytest.approx(0.10)


def test_a_hit_without_a_cosine_does_not_vote() -> None:
    hits = [hit("x", None, "R9"), hit("a", 0.6, "R1")]
    outcome = vote(hits)
    assert outcome is not None
    assert (outcome.answered, outcome.share) == (1, 1.0)


def test_the_no_match_guard_escalates_as_no_evidence() -> None:
    hits = [hit("a", 0.80, "R1")]
    guarded = retrieval.VerdictPolicy(
        answer_threshold=0.0, evidence_floor=0.0, lexical_floor=0.0, no_match_threshold=1.0
    )
    verdict = decide(Ranked([], []), hits, guarded)
    assert (verdict.action, verdict.reason) == ("escalate", "no_evidence")
    assert verdict.figures["no_match_guard"] == 1.0
    assert decide(Ranked([], []), hits, ANSWER).action == "answer"


def test_the_guard_is_the_conformal_quantile_of_no_match_confidences() -> None:
    scores = [i / 100 for i in range(100)]  # 100 no-match confidences 0.00 … 0.99
    # ⌈101 × 0.95⌉ = 96th smallest is 0.95: at most 4 of the 100 reach the guard
    guard = no_match_guard(np.array(scores), 0.95)
    assert 0.95 < guard < 0.9500001
    assert sum(s >= guard for s in scores) == 4
    assert no_match_guard(np.array([]), 0.95) == 0.0  # nothing to fit: off


@pytest.mark.parametrize(("m", "above_max"), [(19, True), (28, True), (38, True), (39, False)])
def test_below_39_no_match_samples_the_guard_sits_above_the_most_confident_one(
    m: int, above_max: bool
) -> None:
    # ⌈(m + 1) × 0.95⌉ ≥ m for m < 39: one confident no-match sample decides the guard (the
    # demo's former 80-question calibration had 28, one of them at confidence 0.98)
    scores = np.array([*(i / (2 * m) for i in range(m - 1)), 0.98])
    guard = no_match_guard(scores, 0.95)
    assert (guard > 0.98) == above_max


def test_binomial_tail_matches_a_direct_sum() -> None:
    direct = sum(math.comb(20, i) * 0.9**i * 0.1 ** (20 - i) for i in range(19, 21))
    assert binomial_tail(19, 20, 0.9) == pytest.approx(direct)
    assert (binomial_tail(0, 5, 0.5), binomial_tail(6, 5, 0.5)) == (1.0, 0.0)


def _samples(n: int, seed: int) -> list[retrieval.CalibrationSample]:
    """Queries whose top hit is right with probability = their cosine; 20% have no match."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        no_match = rng.random() < 0.2
        top = rng.uniform(0.3, 0.75) if no_match else rng.uniform(0.4, 1.0)
        figures = {"top_dense": top, "dense_margin": 0.1, "lexical_match": 1.0, "agreement": 1.0,
                   "vote_share": 1.0, "vote_margin": 1.0}  # fmt: skip
        out.append(retrieval.CalibrationSample(figures, rng.random() < top and not no_match,
                                               no_match))  # fmt: skip
    return out


def test_the_precision_promise_and_the_guard_hold_on_new_samples() -> None:
    fit, new = _samples(400, seed=1), _samples(20_000, seed=2)
    promised = retrieval.calibrate(fit, 0.9, confidence_level=0.9)
    plain = retrieval.calibrate(fit, 0.9, confidence_level=0.0)  # the observed precision only
    assert promised.answer_threshold > plain.answer_threshold
    assert promised.no_match_samples == sum(s.no_match for s in fit)
    answered = [s for s in new if promised.confidence(s.figures) >= promised.answer_threshold]
    assert sum(s.correct for s in answered) / len(answered) >= 0.9
    no_match = [s for s in new if s.no_match]
    passed = [s for s in no_match if promised.confidence(s.figures) >= promised.no_match_threshold]
    assert len(passed) / len(no_match) <= 0.05 + 0.01  # the guard's 95%, up to sampling noise


def test_a_promise_the_samples_cannot_support_is_refused_by_name() -> None:
    few = _samples(30, seed=3)  # 30 samples cannot show 99% precision with 90% confidence
    with pytest.raises(retrieval.PromiseUnreachable, match="no threshold keeps precision"):
        retrieval.calibrate(few, 0.99)
    assert retrieval.calibrate(few, 0.99, confidence_level=0.0).answer_threshold <= 1.0
