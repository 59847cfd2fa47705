"""Retrieval quality on the bundled slices: the fused result beside each retriever alone."""

from __future__ import annotations

from pathlib import Path

import pytest

import retrieval
from evaluation.converters.banking77 import convert_banking77
from evaluation.converters.bitext import convert_bitext
from evaluation.converters.semeval import convert_semeval
from evaluation.dataset import Dataset
from evaluation.quality import evaluate_retrieval


def _top_right(report: object, data: Dataset, mode: str) -> dict[str, bool]:
    relevant = {q.query_id: q.relevant for q in data.queries}
    rankings = report.rankings[mode]  # type: ignore[attr-defined]
    return {qid: bool(ranked) and ranked[0] in relevant[qid] for qid, ranked in rankings.items()}


def test_hybrid_minus_each_retriever_has_a_paired_interval(data_dir: Path) -> None:
    data = convert_semeval(data_dir / "semeval2016" / "dev-sample.xml")
    out = evaluate_retrieval(data).as_dict()
    for side in ("dense", "bm25"):
        for metric, diff in out["hybrid"][f"vs_{side}"].items():
            assert diff["value"] == pytest.approx(out["hybrid"][metric] - out[side][metric])
            assert diff["low"] <= diff["value"] <= diff["high"]


@pytest.mark.parametrize("source", ["semeval", "banking77", "bitext"])
def test_the_default_fusion_keeps_the_right_top_hit_where_one_retriever_is_wrong(
    source: str, data_dir: Path
) -> None:
    """Where dense is right and BM25 wrong, the default keeps the right top hit; where BM25 is
    right and dense wrong by a near-tie (the bundled Bitext slice's btx-q85 with the default
    encoder), it takes BM25's."""
    data = {
        "semeval": lambda: convert_semeval(data_dir / "semeval2016" / "dev-sample.xml"),
        "banking77": lambda: convert_banking77(data_dir / "banking77" / "train-sample.csv"),
        "bitext": lambda: convert_bitext(data_dir / "bitext" / "sample.csv"),
    }[source]()
    report = evaluate_retrieval(data)
    dense, bm25 = _top_right(report, data, "dense"), _top_right(report, data, "bm25")
    hybrid = _top_right(report, data, "hybrid")
    dense_only = [q for q in dense if dense[q] and not bm25[q]]
    assert dense_only, "the slice has queries where BM25's top hit is wrong and dense's right"
    assert all(hybrid[q] for q in dense_only)
    assert sum(hybrid.values()) >= sum(dense.values())  # never fewer right top hits than dense
    if source == "bitext":
        assert (dense["btx-q85"], bm25["btx-q85"], hybrid["btx-q85"]) == (False, True, True)
    # The check can fail: a fusion leaning on BM25 loses some of the dense-only right answers.
    leaning = retrieval.RetrievalSettings(fusion="rrf", rrf_k=1, weight_dense=1.0, weight_bm25=3.0)
    rrf_right = _top_right(evaluate_retrieval(data, settings=leaning), data, "hybrid")
    assert not all(rrf_right[q] for q in dense_only)
