"""Choosing the fusion rule by its worst case across sets, and leave-one-group-out."""

from __future__ import annotations

import pandas as pd

from evaluation.tuning import (
    choose_fusion,
    dense_first_grid,
    grid,
    label,
    leave_one_out,
    worst_case,
)


def _table(gains: dict[str, dict[str, tuple[float, float]]]) -> pd.DataFrame:
    """``gains[setting][set] = (gain_map, gain_mrr)``; dense and bm25 rows are added."""
    sets = sorted({s for per in gains.values() for s in per})
    rows = [{"set": s, "setting": r, "gain_map": g, "gain_mrr": g}
            for s in sets for r, g in (("dense", 0.0), ("bm25", -0.2))]  # fmt: skip
    for setting, per in gains.items():
        rows += [{"set": s, "setting": setting, "gain_map": m, "gain_mrr": r}
                 for s, (m, r) in per.items()]  # fmt: skip
    return pd.DataFrame(rows)


def test_the_worst_case_decides_not_the_mean() -> None:
    table = _table({
        "big mean, one loss": {"a": (0.10, 0.10), "b": (0.05, -0.01), "c": (0.08, 0.02)},
        "never worse": {"a": (0.01, 0.02), "b": (0.0, 0.0), "c": (0.0, 0.001)},
        "never worse, less": {"a": (0.0, 0.01), "b": (0.0, 0.0), "c": (0.0, 0.0)},
    })  # fmt: skip
    assert choose_fusion(table) == "never worse"
    ranked = worst_case(table[~table["setting"].isin(["dense", "bm25"])])
    assert list(ranked.index) == ["never worse", "never worse, less", "big mean, one loss"]
    assert ranked.loc["big mean, one loss", "worst"] == -0.01


def test_ties_go_to_the_earlier_rule_of_the_grid() -> None:
    same = {"a": (0.01, 0.01), "b": (0.0, 0.0)}
    assert choose_fusion(_table({"first": same, "second": same})) == "first"


def test_leave_one_group_out_scores_the_choice_on_the_unseen_group() -> None:
    table = _table({
        "good on a only": {"a1": (0.2, 0.2), "a2": (0.1, 0.1), "b": (-0.05, -0.05)},
        "safe": {"a1": (0.01, 0.01), "a2": (0.0, 0.0), "b": (0.0, 0.01)},
    })  # fmt: skip
    out = leave_one_out(table, {"a1": "a", "a2": "a", "b": "b"})
    without_b = out[out["left_out"] == "b"].iloc[0]
    assert without_b["chosen_without_it"] == "good on a only"  # chosen on a alone …
    assert without_b["gain_map"] == -0.05  # … it loses on the unseen b
    assert set(out[out["left_out"] == "a"]["chosen_without_it"]) == {"safe"}


def test_grids_name_their_rule() -> None:
    assert {s["fusion"] for s in grid()} == {"rrf"}
    assert {s["fusion"] for s in dense_first_grid()} == {"dense_first"}
    assert label(grid(rrf_k=(60,), weight_dense=(1.5,))[0]) == "rrf k=60 wd=1.5"
    assert label({"fusion": "dense_first", "tie_margin": 0.03, "lexical_lead": 1.1}) == (
        "dense_first m=0.03 lead=1.1"
    )
