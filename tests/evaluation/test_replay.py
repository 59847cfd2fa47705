"""The replay on a real embedded index: no case from the future, honest cross-fitted figures."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

import retrieval
from evaluation.casebase import encode_cases, scratch_index, settings_for
from evaluation.converters.banking77 import convert_banking77
from evaluation.converters.intent_split import SplitPlan
from evaluation.dataset import Case, Dataset, Query
from evaluation.errors import ReplayError
from evaluation.escalation import FIGURES, EscalationReport, escalation_replay, time_folds
from evaluation.folds import Promise
from evaluation.replay import replay, timeline

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def _at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


CASES = (
    Case("card", "My card has not arrived yet after two weeks", "Reissued", _at(1), metadata={"tenant": "a"}),
    Case("refund", "Refund for a cancelled order never arrived", "Refunded", _at(5), metadata={"tenant": "a"}),
    Case("pin", "My PIN is blocked after three wrong tries", "Unblocked", None, metadata={"tenant": "b"}),
)  # fmt: skip
QUERIES = (
    Query("q-late", "where is my refund for the cancelled order", frozenset({"refund"}), _at(9)),
    Query("q-early", "refund of my cancelled order has not arrived", frozenset({"refund"}), _at(3)),
    Query("q-card", "card still not here", frozenset({"card"}), _at(2), filters={"tenant": "a"}),
    Query("q-untimed", "pin blocked", frozenset({"pin"})),
)  # fmt: skip
DATA = Dataset(CASES, QUERIES)


def test_timeline_orders_queries_and_releases_cases_strictly_before() -> None:
    order = [(q.query_id, [c.case_id for c in arriving]) for q, arriving in timeline(DATA)]
    assert order == [
        ("q-card", ["pin", "card"]),  # untimed cases are there from the start
        ("q-early", []),
        ("q-late", ["refund"]),
        ("q-untimed", []),
    ]
    same_time = Dataset(CASES, (Query("q", "refund", frozenset({"refund"}), _at(5)),))
    assert [c.case_id for c in next(iter(timeline(same_time)))[1]] == ["pin", "card"]


def test_replay_never_sees_a_case_resolved_later(tmp_path: Path) -> None:
    with scratch_index(settings_for(DATA), tmp_path / "scratch") as index:
        base = encode_cases(index, DATA.cases)
        steps = {s.query_id: s for s in replay(DATA, index, base)}
        with pytest.raises(ReplayError, match="empty index"):
            replay(DATA, index, base)
    early, late = steps["q-early"], steps["q-late"]
    assert early.no_match is True
    assert early.visible_cases == 2
    assert early.top_case != "refund"
    assert early.correct is False
    assert late.no_match is False
    assert late.top_case == "refund"
    assert late.correct is True
    assert late.dense_top == "refund"
    assert 0.0 < late.dense_score <= 1.0
    assert steps["q-card"].top_case == "card"  # the tenant filter keeps "pin" (tenant b) out
    assert steps["q-untimed"].visible_cases == 3
    assert {"top_dense", "dense_margin", "lexical_match", "agreement"} <= set(late.figures)


def test_time_folds_are_contiguous_blocks() -> None:
    assert time_folds(50, 5).tolist() == [i // 10 for i in range(50)]
    with pytest.raises(ReplayError, match="too few"):
        time_folds(30, 5)
    with pytest.raises(ReplayError, match="at least 2"):
        time_folds(100, 1)


@pytest.fixture(scope="module")
def banking(data_dir: Path) -> Dataset:
    plan = SplitPlan(prefix="b-", held_out_count=4, max_queries=160, seed=1)
    return convert_banking77(data_dir / "banking77" / "train-sample.csv", plan)


@pytest.fixture(scope="module")
def report(banking: Dataset) -> EscalationReport:
    # 85%: a promise the folds of this 160-query slice can keep. At 90%, with 90% confidence on
    # about 120 calibration queries a fold, the default encoder (onnx-int8-mixed) answers nothing
    # here, which would leave the answered figures below unchecked; at 85% every fold answers.
    return escalation_replay(banking, target_precision=0.85, folds=4)


def test_cross_fitted_operating_point_on_banking77_slice(report: EscalationReport) -> None:
    out = report.as_dict()
    steps = report.steps
    answered = np.array([s.answered for s in steps])
    right = np.array([s.correct for s in steps])
    no_match = np.array([s.no_match for s in steps])
    assert out["n_queries"] == 160
    assert out["n_no_match"] == int(no_match.sum()) > 0
    assert out["escalation_drop"]["value"] == pytest.approx(answered.mean())
    assert out["answered_precision"]["value"] == pytest.approx(right[answered].mean())
    assert out["wrong_answer_rate"]["value"] == pytest.approx((answered & ~right).mean())
    assert out["no_match_escalated"]["value"] == pytest.approx((~answered[no_match]).mean())
    assert out["escalation_rate_with"]["value"] == pytest.approx(1 - answered.mean())
    assert not (right & no_match).any(), "a no-match query can never be answered right"
    for name in FIGURES:
        estimate = out[name]
        assert estimate["low"] <= estimate["value"] <= estimate["high"]
    assert out["calibration"] == "cross-fitted over 4 time-ordered folds"
    assert out["baseline"]["name"] == "top-1 cosine threshold"
    assert out["oracle_curve"]["label"].startswith("oracle")
    assert sum(out["reasons"].values()) == 160
    coverages = [p["coverage"] for p in out["curve"]]
    assert coverages == sorted(coverages, reverse=True)


def test_a_calibration_file_replaces_cross_fitting(banking: Dataset) -> None:
    never = retrieval.VerdictPolicy(answer_threshold=1.01)  # confidence never reaches it
    out = escalation_replay(banking, policy=never, folds=4).as_dict()
    assert out["calibration"] == "calibration file fitted on other data"
    assert out["escalation_drop"]["value"] == 0.0
    assert out["no_match_escalated"]["value"] == 1.0
    assert out["answered_precision"]["value"] is None


def test_filter_keys_are_declared_and_float_filter_values_refused() -> None:
    settings = settings_for(DATA)
    assert "tenant" in settings.filter_keys
    odd = Dataset(
        (Case("a", "p", metadata={"shard": 1.5}),),
        (Query("q", "t", frozenset({"a"}), filters={"shard": 1.5}),),
    )
    with pytest.raises(ReplayError, match=r"metadata.shard is a float"):
        settings_for(odd)
    float_query = Dataset(
        (Case("a", "p"),), (Query("q", "t", frozenset({"a"}), filters={"x": 0.5}),)
    )
    with pytest.raises(ReplayError, match=r"query q: filters.x is a float"):
        settings_for(float_query)


def test_each_fold_says_whether_the_promise_held(report: EscalationReport) -> None:
    out = report.as_dict()
    answered = np.array([s.answered for s in report.steps])
    right = np.array([s.correct for s in report.steps])
    no_match = np.array([s.no_match for s in report.steps])
    fold = time_folds(len(report.steps), 4)
    assert [f["fold"] for f in out["folds"]] == [0, 1, 2, 3]
    assert all(f["answered"] for f in out["folds"]), "every fold answers: the checks below run"
    for f in out["folds"]:
        here = fold == f["fold"]
        assert f["queries"] == here.sum()
        assert f["answered"] == (answered & here).sum()
        if f["answered"]:
            assert f["precision"] == pytest.approx(right[answered & here].mean())
            assert f["held"] == (f["precision"] >= 0.85)
        assert f["no_match"] == (no_match & here).sum()
        assert f["answer_threshold"] > 0.0
        assert f["guard_threshold"] <= f["answer_threshold"]
    promise = out["promise"]
    assert promise == {"target_precision": 0.85, "confidence_level": 0.9,
                       "no_match_escalation": 0.95, "folds": 4,
                       "precision_held": sum(f["held"] for f in out["folds"]),
                       "guard_held": sum(f["guard_held"] for f in out["folds"])}  # fmt: skip


def test_each_retriever_alone_is_a_baseline_with_paired_differences(
    report: EscalationReport,
) -> None:
    out = report.as_dict()
    assert out["baselines"]["bm25"]["name"] == "top-1 BM25 threshold"
    assert out["baselines"]["dense"]["escalation_drop"] == out["baseline"]["escalation_drop"]
    for side in ("dense", "bm25"):
        drop = out["differences"][side]["escalation_drop"]
        expected = (
            out["escalation_drop"]["value"] - out["baselines"][side]["escalation_drop"]["value"]
        )
        assert drop["value"] == pytest.approx(expected)
        assert drop["low"] <= drop["value"] <= drop["high"]
    assert {s.bm25_correct for s in report.steps} == {True, False}
    guarded = [p for p in out["curve"] if p["no_match_escalated"] is not None]
    assert guarded, "the curve says how many no-match queries each threshold escalates"
    shares = [p["no_match_escalated"] for p in guarded]
    assert shares == sorted(shares)  # higher thresholds escalate more


def test_a_promise_out_of_range_is_refused() -> None:
    with pytest.raises(ReplayError, match="confidence_level"):
        Promise(0.9, 1.0, 0.95)
    with pytest.raises(ReplayError, match="target_precision"):
        Promise(0.0)
