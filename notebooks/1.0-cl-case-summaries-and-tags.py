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
# # Exploring case summaries and tags
#
# What does the case base look like before it answers anyone? This notebook loads cases in the
# evaluation format (here: the bundled Bitext slice, converted the same way as
# `caseloop eval convert bitext`; set `CASES_JSONL` to read your own `cases.jsonl`, e.g. from
# `caseloop eval convert store`) and looks at tags, lengths, and how the questions that had no
# case group into content gaps.

# %%
import os
from collections import Counter
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

import evaluation
from evaluation import SplitPlan, content_gaps, convert_bitext, load_cases

DATA = Path(evaluation.__file__).parent / "data"
if os.environ.get("CASES_JSONL"):
    cases = load_cases(os.environ["CASES_JSONL"])
    queries = ()
else:
    dataset = convert_bitext(
        DATA / "bitext" / "sample.csv", SplitPlan(prefix="x-", held_out_count=2)
    )
    cases, queries = dataset.cases, dataset.queries
frame = pd.DataFrame(
    {
        "case_id": c.case_id,
        "tags": c.tags,
        "problem_words": len(c.problem.split()),
        "resolution_words": len(c.resolution.split()),
        "resolved_at": c.resolved_at,
        **{f"meta_{k}": v for k, v in c.metadata.items()},
    }
    for c in cases
)
print(f"{len(frame)} cases")
frame.head()

# %% [markdown]
# ## Tags: how many cases each tag covers

# %%
tag_counts = Counter(tag for tags in frame["tags"] for tag in tags)
tags = pd.Series(tag_counts).sort_values(ascending=False)
ax = tags.plot.bar(figsize=(7, 3), title="cases per tag")
ax.set_ylabel("cases")
plt.tight_layout()
assert tags.sum() >= len(frame) * 0.9, "almost every case should carry a tag"
tags

# %% [markdown]
# ## Lengths: problems are short, resolutions long
# The retrievers index the problem; the summary shown to the customer carries the resolution.

# %%
frame[["problem_words", "resolution_words"]].describe().round(1)

# %% [markdown]
# ## Cases over time

# %%
per_day = frame.set_index("resolved_at").resample("D")["case_id"].count()
per_day.plot(figsize=(7, 2.5), title="cases resolved per day")
plt.tight_layout()

# %% [markdown]
# ## Content gaps: the questions no case answers, grouped
# Queries with no relevant case are what the team should write content for.

# %%
unanswerable = [q.text for q in queries if not q.relevant]
gaps = content_gaps(unanswerable, threshold=0.25)
pd.DataFrame([g.as_dict() for g in gaps]).head(10)
