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
# # Tuning the hybrid fusion: RRF constant, weights, verdict threshold
#
# On dev data only: SemEval-2016 Task 3 subtask B dev (each question re-ranks its 10
# candidates). Here on the bundled 10-question slice; set `SEMEVAL_XML` to the full dev file
# for the figures quoted in `docs/evaluation.md`. The cases are indexed once; each setting is a
# view of the same engine, so the grid is cheap.

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import evaluation
import retrieval
from evaluation import convert_semeval
from evaluation.tuning import fusion_grid, grid

DATA = Path(evaluation.__file__).parent / "data"
source = os.environ.get("SEMEVAL_XML", DATA / "semeval2016" / "dev-sample.xml")
full = "SEMEVAL_XML" in os.environ
dataset = convert_semeval(source)
# The default fusion is whatever the retrieval settings say (CASELOOP_RETRIEVAL_* included);
# the grid is built around it, so the comparison below is against the real default.
defaults = retrieval.RetrievalSettings()
DEFAULT = {
    "rrf_k": defaults.rrf_k,
    "weight_dense": defaults.weight_dense,
    "weight_bm25": defaults.weight_bm25,
}
ks, weights = (
    ((1, 2, 5, 10, 20, 60, 100), (0.5, 1.0, 1.5, 2.0, 3.0)) if full else ((2, 10), (1.0, 2.0))
)
settings = [
    {**setting, "weight_bm25": defaults.weight_bm25}
    for setting in grid(
        rrf_k=sorted({*ks, defaults.rrf_k}), weight_dense=sorted({*weights, defaults.weight_dense})
    )
]
results = fusion_grid(dataset, settings)
results.sort_values("map", ascending=False).round(4).head(12)

# %% [markdown]
# Does fusion beat the best single retriever? Measure, don't assume.

# %%
single = results[results["setting"].isin(["bm25", "dense"])].set_index("setting")
fused = results[~results["setting"].isin(["bm25", "dense"])]
best = fused.loc[fused["map"].idxmax()]
is_default = (fused[list(DEFAULT)] == pd.Series(DEFAULT)).all(axis=1)
default = fused[is_default].iloc[0]
label = ", ".join(f"{k}={v}" for k, v in DEFAULT.items())
print(f"best single MAP: {single['map'].max():.4f} ({single['map'].idxmax()})")
print(f"default fusion ({label}) MAP: {default['map']:.4f}")
print(f"best fusion MAP: {best['map']:.4f} with {best['setting']}")

# %%
pivot = fused.pivot_table(index="rrf_k", columns="weight_dense", values="map")
fig, ax = plt.subplots(figsize=(5, 3.5))
image = ax.imshow(pivot.values, cmap="viridis", aspect="auto")
ax.set_xticks(range(len(pivot.columns)), [str(c) for c in pivot.columns])
ax.set_yticks(range(len(pivot.index)), [str(int(i)) for i in pivot.index])
ax.set_xlabel(f"dense weight (BM25 weight {defaults.weight_bm25})")
ax.set_ylabel("RRF constant k")
ax.set_title("MAP by fusion setting (□ the default)")
column = list(pivot.columns).index(DEFAULT["weight_dense"])
row = list(pivot.index).index(DEFAULT["rrf_k"])
ax.add_patch(
    plt.Rectangle((column - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="white", linewidth=2)
)
fig.colorbar(image)
plt.tight_layout()

# %% [markdown]
# ## The verdict threshold
# On a replay (bundled BANKING77 slice), coverage and precision as the confidence threshold moves;
# the operating point for a target precision is fitted on other folds (see notebook 2.0).

# %%
from evaluation import SplitPlan, convert_banking77, escalation_replay

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
