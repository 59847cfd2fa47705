# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Choosing the hybrid fusion: every rule on every set, judged by its worst case
#
# The default fusion must never be worse than dense alone on any labelled set, so rules are
# ranked by their *worst* gain over dense (any set, MAP or MRR), not by the mean on one set
# (`evaluation.tuning`, the same functions as `benchmarks/fusion.py`). Here on the three bundled
# slices (SemEval-2016 dev, BANKING77, Bitext); set `SEMEVAL_XML`, `BANKING77_CSV` or
# `BITEXT_CSV` to full files for the figures quoted in `docs/retrieval.md`. Each set is indexed
# once and each query's dense and BM25 candidates fetched once: a grid costs no search.

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import evaluation
import retrieval
from evaluation import convert_banking77, convert_bitext, convert_semeval
from evaluation.tuning import (
    candidate_lists,
    choose_fusion,
    dense_first_grid,
    fusion_table,
    grid,
    label,
    worst_case,
)

DATA = Path(evaluation.__file__).parent / "data"
sets = {
    "semeval": convert_semeval(
        os.environ.get("SEMEVAL_XML", DATA / "semeval2016" / "dev-sample.xml")
    ),
    "banking77": convert_banking77(
        os.environ.get("BANKING77_CSV", DATA / "banking77" / "train-sample.csv")
    ),
    "bitext": convert_bitext(os.environ.get("BITEXT_CSV", DATA / "bitext" / "sample.csv")),
}
# The default is whatever the retrieval settings say (CASELOOP_RETRIEVAL_* included).
defaults = retrieval.RetrievalSettings()
DEFAULT = {
    "fusion": defaults.fusion,
    "tie_margin": defaults.tie_margin,
    "lexical_lead": defaults.lexical_lead,
}
margins, leads = (0.01, 0.02, 0.03, 0.05, 0.08), (1.0, 1.1, 1.25, 1.5)
rules = [
    "dense",
    "bm25",
    DEFAULT,
    *dense_first_grid(
        sorted({*margins, defaults.tie_margin}), sorted({*leads, defaults.lexical_lead})
    ),
    *grid(rrf_k=(10, 60), weight_dense=(1.0, 1.5, 3.0)),
]
lists = {name: (data, candidate_lists(data)) for name, data in sets.items()}
by_label = {label(r): r for r in rules}
table = fusion_table(lists, list(by_label.values()))
ranked = worst_case(table[~table["setting"].isin(["dense", "bm25"])])
(100 * ranked.head(10)).round(2)

# %% [markdown]
# Per set, MAP and MRR (in %) of each retriever alone, the shipped default and the best RRF.
# Is the default at least as good as dense alone everywhere? Measure, don't assume.

# %%
default = label(DEFAULT)
best_rrf = next(s for s in ranked.index if s.startswith("rrf"))
chosen = choose_fusion(table)
shown = table[table["setting"].isin(["dense", "bm25", default, best_rrf])]
side = shown.pivot_table(index="set", columns="setting", values="mrr", sort=False)
print(
    f"default fusion ({default}): worst gain over dense {100 * ranked.loc[default, 'worst']:+.2f} points"
)
print(f"rule chosen on these sets: {chosen}")
fig, ax = plt.subplots(figsize=(7, 3.5))
side.mul(100).plot.bar(ax=ax, rot=0)
ax.set_ylabel("MRR (%)")
ax.set_ylim(max(0, 100 * side.min().min() - 10), 100)
ax.set_title("Each retriever, the default and the best RRF, per set")
ax.legend(loc="center left", bbox_to_anchor=(1, 0.5))
plt.tight_layout()

# %% [markdown]
# The dense-first grid: the worst-case gain over dense (points) of every tie margin and lexical
# lead, the shipped default outlined.

# %%
first = ranked[ranked.index.str.startswith("dense_first")].copy()
first["margin"] = [by_label[s]["tie_margin"] for s in first.index]
first["lead"] = [by_label[s]["lexical_lead"] for s in first.index]
pivot = first.pivot_table(index="margin", columns="lead", values="worst") * 100
fig, ax = plt.subplots(figsize=(5, 3.5))
image = ax.imshow(pivot.values, cmap="RdBu", aspect="auto", vmin=-np.abs(pivot.values).max(),
                  vmax=np.abs(pivot.values).max())  # fmt: skip
ax.set_xticks(range(len(pivot.columns)), [str(c) for c in pivot.columns])
ax.set_yticks(range(len(pivot.index)), [str(i) for i in pivot.index])
ax.set_xlabel("lexical lead (BM25 top score over its second)")
ax.set_ylabel("tie margin (cosine)")
ax.set_title("Worst-case gain over dense (□ the default)")
column = list(pivot.columns).index(DEFAULT["lexical_lead"])
row = list(pivot.index).index(DEFAULT["tie_margin"])
ax.add_patch(
    plt.Rectangle((column - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=2)
)
fig.colorbar(image)
plt.tight_layout()

# %% [markdown]
# ## The verdict threshold
# On a replay (bundled BANKING77 slice), coverage and precision as the confidence threshold moves;
# the operating point for a target precision is fitted on other folds (see notebook 2.0).

# %%
from evaluation import SplitPlan, escalation_replay

banking = convert_banking77(
    DATA / "banking77" / "train-sample.csv",
    SplitPlan(prefix="b-", held_out_count=4, max_queries=120),
)
replayed = escalation_replay(banking, target_precision=0.9, folds=3).as_dict()
curve = replayed["curve"]
thresholds = np.array([p["threshold"] for p in curve])
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(thresholds, [p["coverage"] for p in curve], label="coverage (escalation drop)")
ax.plot(thresholds, [p["precision"] for p in curve], label="answered precision")
ax.set_xlabel("confidence threshold (cross-fitted policies)")
ax.legend()
plt.tight_layout()
