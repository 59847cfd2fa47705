"""Choosing the fusion rule: every candidate rule on every labelled set, judged by its worst case.

The cases of a data set are encoded and indexed once, and each query's dense and BM25 candidates
(depth 50) are fetched once (:func:`candidate_lists`); every rule is then the same public
`retrieval.fuse` the index runs, applied to those lists, so a grid costs no search at all.

:func:`choose_fusion` picks the rule whose **worst** gain over dense alone, across every set and
both MAP and MRR, is largest (ties: the larger mean gain, then the earlier rule in the grid). A
rule that loses on one set cannot win by gaining on others, which is the point: the default must
be at least as good as its best part everywhere. :func:`leave_one_out` repeats the choice with
each group of sets left out and scores the choice on the group it never saw.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

import retrieval
from evaluation.casebase import encode_cases, scratch_index, search_filters, settings_for
from evaluation.dataset import Dataset
from evaluation.metrics import official_map, ranking_scores

Lists = Mapping[str, tuple[Sequence[retrieval.Hit], Sequence[retrieval.Hit]]]


def grid(
    rrf_k: Sequence[int] = (1, 2, 5, 10, 20, 60, 100),
    weight_dense: Sequence[float] = (0.5, 1.0, 1.5, 2.0, 3.0),
) -> list[dict[str, Any]]:
    """RRF settings to try: every constant with every dense weight (BM25 weight fixed at 1)."""
    return [
        {"fusion": "rrf", "rrf_k": k, "weight_dense": w, "weight_bm25": 1.0}
        for k in rrf_k
        for w in weight_dense
    ]


def dense_first_grid(
    tie_margin: Sequence[float] = (0.01, 0.02, 0.03, 0.05, 0.08, 0.12),
    lexical_lead: Sequence[float] = (1.0, 1.1, 1.25, 1.5, 2.0),
) -> list[dict[str, Any]]:
    """Dense-first settings to try: every tie margin with every lexical lead."""
    return [
        {"fusion": "dense_first", "tie_margin": m, "lexical_lead": lead}
        for m in tie_margin
        for lead in lexical_lead
    ]


def candidate_lists(
    dataset: Dataset,
    *,
    base: retrieval.RetrievalSettings | None = None,
    depth: int = 50,
    workdir: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> Lists:
    """Each query's dense and BM25 hits (best first, ``depth`` each), all cases indexed."""
    lists = {}
    with scratch_index(settings_for(dataset, base), workdir) as index:
        encode_cases(index, dataset.cases).upsert(index, [c.case_id for c in dataset.cases])
        for number, query in enumerate(dataset.queries, start=1):
            filters = search_filters(query)
            lists[query.query_id] = (
                index.search(query.text, k=depth, filters=filters, mode="dense"),
                index.search(query.text, k=depth, filters=filters, mode="bm25"),
            )
            if progress is not None:
                progress(number)
    return lists


def rankings(
    lists: Lists, setting: Mapping[str, Any] | str, depth: int = 10
) -> dict[str, tuple[str, ...]]:
    """Top ``depth`` case ids per query: ``"dense"``, ``"bm25"``, or a fusion setting's."""
    if setting in ("dense", "bm25"):
        side = 0 if setting == "dense" else 1
        return {q: tuple(h.case_id for h in pair[side][:depth]) for q, pair in lists.items()}
    settings = retrieval.RetrievalSettings.model_construct(**dict(setting))  # type: ignore[arg-type]
    return {
        q: tuple(f.case_id for f in retrieval.fuse(dense, bm25, settings)[:depth])
        for q, (dense, bm25) in lists.items()
    }


def label(setting: Mapping[str, Any] | str) -> str:
    """A short name of a setting: ``dense_first 0.03/1.1``, ``rrf 60/1.5`` or a retriever."""
    if isinstance(setting, str):
        return setting
    if setting.get("fusion") == "rrf":
        return f"rrf k={setting['rrf_k']} wd={setting['weight_dense']}"
    return f"dense_first m={setting['tie_margin']} lead={setting['lexical_lead']}"


def score(dataset: Dataset, ranked: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """MAP, MRR, P@1, nDCG@10 (queries with a relevant case) and the official MAP."""
    scores = ranking_scores(ranked, {q.query_id: q.relevant for q in dataset.queries})
    means = {m: scores.means[m] for m in ("map", "mrr", "p@1", "ndcg@10")}
    return means | {"official_map": official_map(scores, len(dataset.queries))}


def fusion_table(
    sets: Mapping[str, tuple[Dataset, Lists]], settings: Sequence[Mapping[str, Any] | str]
) -> pd.DataFrame:
    """One row per (set, setting): the metrics and the gain over dense alone."""
    rows = []
    for name, (dataset, lists) in sets.items():
        dense = score(dataset, rankings(lists, "dense"))
        for setting in settings:
            figures = score(dataset, rankings(lists, setting))
            rows.append({"set": name, "setting": label(setting), **figures,
                         "gain_map": figures["map"] - dense["map"],
                         "gain_mrr": figures["mrr"] - dense["mrr"]})  # fmt: skip
    return pd.DataFrame(rows)


def worst_case(table: pd.DataFrame) -> pd.DataFrame:
    """Per setting: the worst gain over dense (any set, MAP or MRR), the mean gain, in the
    order :func:`choose_fusion` ranks them (best first)."""
    gains = table.assign(worst=table[["gain_map", "gain_mrr"]].min(axis=1),
                         mean=table[["gain_map", "gain_mrr"]].mean(axis=1))  # fmt: skip
    order = {s: i for i, s in enumerate(dict.fromkeys(table["setting"]))}
    summary = gains.groupby("setting", sort=False).agg(
        worst=("worst", "min"), mean=("mean", "mean")
    )
    summary["order"] = [order[s] for s in summary.index]
    # Gains within 1e-9 are ties (floating noise of identical rankings).
    summary["worst_key"] = (summary["worst"] / 1e-9).round()
    ranked = summary.sort_values(["worst_key", "mean", "order"], ascending=[False, False, True])
    return ranked.drop(columns=["worst_key", "order"])


def choose_fusion(table: pd.DataFrame) -> str:
    """The setting with the best worst-case gain over dense alone (module docstring)."""
    candidates = table[~table["setting"].isin(["dense", "bm25"])]
    return str(worst_case(candidates).index[0])


def leave_one_out(table: pd.DataFrame, groups: Mapping[str, str]) -> pd.DataFrame:
    """For each group of sets: the setting chosen without it, and its gains on it."""
    rows = []
    for group in sorted(set(groups.values())):
        held = [s for s, g in groups.items() if g == group]
        chosen = choose_fusion(table[~table["set"].isin(held)])
        mine = table[table["set"].isin(held) & (table["setting"] == chosen)]
        for _, row in mine.iterrows():
            rows.append({"left_out": group, "set": row["set"], "chosen_without_it": chosen,
                         "gain_map": row["gain_map"], "gain_mrr": row["gain_mrr"]})  # fmt: skip
    return pd.DataFrame(rows)
