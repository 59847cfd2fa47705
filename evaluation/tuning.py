"""Tuning the hybrid fusion on dev data: RRF constant and per-retriever weights.

The cases are encoded and indexed once; each setting is then a view of the same engine with
other fusion settings (`retrieval.Index` over the same engine), so a grid costs one search per
query and setting, not one re-indexing. Scores are the usual ranking metrics over the queries
with a relevant case; the single retrievers are scored alongside, since fusion must beat them to
be worth having (Qdrant's own article saw RRF lose on one set in five).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

import retrieval
from evaluation.casebase import encode_cases, scratch_index, settings_for
from evaluation.dataset import Dataset
from evaluation.metrics import official_map, ranking_scores
from evaluation.quality import search_rankings


def grid(
    rrf_k: Sequence[int] = (1, 2, 5, 10, 20, 60, 100),
    weight_dense: Sequence[float] = (0.5, 1.0, 1.5, 2.0, 3.0),
) -> list[dict[str, Any]]:
    """Settings to try: every RRF constant with every dense weight (BM25 weight fixed at 1)."""
    return [
        {"rrf_k": k, "weight_dense": w, "weight_bm25": 1.0} for k in rrf_k for w in weight_dense
    ]


def fusion_grid(
    dataset: Dataset,
    settings: Sequence[Mapping[str, Any]],
    *,
    base: retrieval.RetrievalSettings | None = None,
    depth: int = 10,
    workdir: Path | None = None,
) -> pd.DataFrame:
    """One row per setting (and per single retriever): MAP, MRR, P@1, nDCG@10, official MAP."""
    relevant = {q.query_id: q.relevant for q in dataset.queries}
    rows = []
    base_settings = settings_for(dataset, base)
    with scratch_index(base_settings, workdir) as index:
        encode_cases(index, dataset.cases).upsert(index, [c.case_id for c in dataset.cases])
        manifest = index.engine.manifest() or {}
        for mode in ("bm25", "dense"):
            rows.append({"setting": mode, **_scores(index, dataset, mode, depth, relevant)})
        for setting in settings:
            view = retrieval.Index(
                index.engine, base_settings.model_copy(update=dict(setting)), manifest
            )
            label = ", ".join(f"{k}={v}" for k, v in setting.items())
            rows.append(
                {"setting": label, **setting, **_scores(view, dataset, "hybrid", depth, relevant)}
            )
    return pd.DataFrame(rows)


def _scores(
    index: retrieval.Index, dataset: Dataset, mode: str, depth: int, relevant: Mapping[str, Any]
) -> dict[str, float]:
    scores = ranking_scores(search_rankings(index, dataset.queries, mode, depth), relevant)
    return {
        "map": scores.means["map"],
        "mrr": scores.means["mrr"],
        "p@1": scores.means["p@1"],
        "ndcg@10": scores.means["ndcg@10"],
        "official_map": official_map(scores, len(dataset.queries)),
    }
