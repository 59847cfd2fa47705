"""The verdict: reasons, calibration for a target precision, the policy stored with the index."""

from __future__ import annotations

import random

import pytest

import retrieval
from retrieval.engine import Ranked
from retrieval.fusion import Candidate
from retrieval.verdict import decide
from tests.retrieval.banking import split


def hit(
    case_id: str, dense: float, tags: tuple[str, ...] = (), ranks: dict[str, int] | None = None
) -> retrieval.Hit:
    return retrieval.Hit(
        case_id, 0.03, ranks or {"dense": 1, "bm25": 1}, "s", tags, {}, {"dense": dense}
    )


def test_no_hits_is_no_evidence() -> None:
    verdict = decide(Ranked([], []), [], retrieval.VerdictPolicy())
    assert (verdict.action, verdict.reason) == ("escalate", "no_evidence")


def test_dense_only_match_below_the_lexical_floor_is_no_evidence() -> None:
    policy = retrieval.VerdictPolicy(lexical_floor=0.7, evidence_floor=0.2)
    ranked = Ranked([Candidate("a", 0.55)], [])
    verdict = decide(ranked, [hit("a", 0.55, ranks={"dense": 1})], policy)
    assert verdict.reason == "no_evidence"
    assert verdict.figures["lexical_match"] == 0.0


def test_close_hits_with_different_tags_are_a_conflict() -> None:
    ranked = Ranked([Candidate("a", 0.80), Candidate("b", 0.79)], [Candidate("a", 3.0)])
    hits = [hit("a", 0.80, ("refund",)), hit("b", 0.79, ("chargeback",), {"dense": 2})]
    verdict = decide(ranked, hits, retrieval.VerdictPolicy(conflict_margin=0.03))
    assert verdict.reason == "conflict"
    assert verdict.figures["conflict_gap"] == pytest.approx(0.01)
    same = [hit("a", 0.80, ("refund",)), hit("b", 0.79, ("refund", "card"), {"dense": 2})]
    assert decide(ranked, same, retrieval.VerdictPolicy()).reason != "conflict"


def test_low_confidence_below_the_threshold() -> None:
    ranked = Ranked([Candidate("a", 0.5), Candidate("b", 0.49)], [Candidate("a", 1.0)])
    hits = [hit("a", 0.5), hit("b", 0.49, ranks={"dense": 2})]
    # the guard off: this is about the answer threshold alone
    policy = retrieval.VerdictPolicy(
        answer_threshold=0.99, evidence_floor=0.1, no_match_threshold=0.0
    )
    verdict = decide(ranked, hits, policy)
    assert verdict.reason == "low_confidence"
    assert verdict.figures["confidence"] < 0.99
    assert (
        decide(
            ranked,
            hits,
            retrieval.VerdictPolicy(
                answer_threshold=0.0, evidence_floor=0.1, no_match_threshold=0.0
            ),
        ).action
        == "answer"
    )


def test_policy_round_trips_and_rejects_unknown_fields() -> None:
    policy = retrieval.VerdictPolicy(answer_threshold=0.7, samples=40, target_precision=0.9)
    assert retrieval.VerdictPolicy.from_dict(policy.to_dict()) == policy
    with pytest.raises(retrieval.CalibrationError, match="unknown fields"):
        retrieval.VerdictPolicy.from_dict({**policy.to_dict(), "colour": 1})


def test_calibration_refuses_unusable_samples() -> None:
    figures = {"top_dense": 0.5, "dense_margin": 0.1, "lexical_match": 1.0, "agreement": 1.0}
    with pytest.raises(retrieval.CalibrationError, match="at least 20"):
        retrieval.calibrate([retrieval.CalibrationSample(figures, True)] * 5, 0.9)
    with pytest.raises(retrieval.CalibrationError, match="both right and wrong"):
        retrieval.calibrate([retrieval.CalibrationSample(figures, True)] * 30, 0.9)
    with pytest.raises(retrieval.CalibrationError, match="missing"):
        retrieval.calibrate([retrieval.CalibrationSample({}, True)] * 30, 0.9)


def _samples(
    index: retrieval.Index, queries: list[tuple[str, str]]
) -> list[retrieval.CalibrationSample]:
    samples = []
    for text, intent in queries:
        verdict = index.assess(text)
        correct = bool(verdict.hits) and verdict.hits[0].tags == (intent,)
        samples.append(retrieval.CalibrationSample(verdict.figures, correct))
    return samples


def test_calibrated_policy_reaches_the_target_precision_on_held_out_queries(
    location: str, settings: retrieval.RetrievalSettings
) -> None:
    cases, queries = split()
    random.Random(3).shuffle(queries)
    with retrieval.open_index(location, settings=settings) as index:
        index.upsert(cases)
        fit, held_out = _samples(index, queries[:70]), queries[70:]
        policy = retrieval.calibrate(fit, target_precision=0.9)
        assert policy.samples == 70
        assert 0.0 < policy.answer_threshold < 1.0
        answered = [s for s in fit if policy.confidence(s.figures) >= policy.answer_threshold]
        assert (
            sum(s.correct for s in answered) / len(answered) >= 0.9
        )  # on its own samples, by construction
        index.save_policy(policy)
        assert index.policy == policy
        verdicts = [(index.assess(text), intent) for text, intent in held_out]
        answers = [(v, intent) for v, intent in verdicts if v.action == "answer"]
        assert answers, "a calibrated policy answers something"
        precision = sum(v.hits[0].tags == (intent,) for v, intent in answers) / len(answers)
        assert precision >= 0.8  # 0.9 targeted on 70 samples; held-out noise allowed
        assert all(v.figures["calibrated"] == 1.0 for v, _ in verdicts)
        reasons = {v.reason for v, _ in verdicts}
        assert reasons & {"low_confidence", "no_evidence"}


def test_saved_policy_is_read_back_by_a_new_process_view(
    tmp_path: object, settings: retrieval.RetrievalSettings
) -> None:
    folder = f"{tmp_path}/policy"
    policy = retrieval.VerdictPolicy(answer_threshold=0.77, samples=99, target_precision=0.95)
    with retrieval.open_index(folder, settings=settings) as index:
        index.save_policy(policy)
    with retrieval.open_index(folder, settings=settings, create=False) as reopened:
        assert reopened.policy == policy


def test_unrelated_query_escalates_and_a_match_answers(index: retrieval.Index) -> None:
    assert index.assess("quantum chromodynamics lattice gauge theory").action == "escalate"
    verdict = index.assess("my refund never arrived after I returned the shoes")
    assert verdict.hits[0].case_id == "T-1"
    assert verdict.figures["top_dense"] > 0.9
