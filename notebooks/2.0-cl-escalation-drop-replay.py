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
# # The escalation-drop replay
#
# Every query escalated before caseloop existed. Replaying them in `asked_at` order, each seeing
# only the cases resolved before it, how many would the retrieval module's verdict have answered,
# and how many of those answers would have been right?
#
# The operating point is honest: the verdict's thresholds for the target precision are fitted on
# other (time-ordered) folds than the queries they are scored on. The same functions run behind
# `caseloop eval escalation`. Here on the bundled BANKING77 slice (600 messages, 20 intents);
# set `BANKING77_CSV` to the full `train.csv` for the published figure.

# %%
import os
from pathlib import Path

import pandas as pd

import evaluation
from evaluation import SplitPlan, convert_banking77, escalation_replay

DATA = Path(evaluation.__file__).parent / "data"
source = os.environ.get("BANKING77_CSV", DATA / "banking77" / "train-sample.csv")
full = "BANKING77_CSV" in os.environ
plan = (
    SplitPlan(prefix="b77-") if full else SplitPlan(prefix="b-", held_out_count=4, max_queries=150)
)
dataset = convert_banking77(source, plan)
print(
    f"{len(dataset.cases)} cases, {len(dataset.queries)} queries, "
    f"{sum(1 for q in dataset.queries if not q.relevant)} of them on held-out intents"
)

# %%
TARGET = 0.95 if full else 0.9
report = escalation_replay(dataset, target_precision=TARGET, folds=5 if full else 3)
figures = report.as_dict()
names = [
    "escalation_rate_with",
    "escalation_drop",
    "answered_precision",
    "wrong_answer_rate",
    "no_match_escalated",
    "correct_drop",
]
table = pd.DataFrame(
    {
        side: {
            n: f"{src[n]['value']:.3f} [{src[n]['low']:.3f}, {src[n]['high']:.3f}]"
            if src[n]["value"] is not None
            else "n/a"
            for n in names
        }
        for side, src in (("caseloop", figures), ("top-1 cosine", figures["baseline"]))
    }
)
print(figures["calibration"])
table

# %% [markdown]
# ## Coverage / precision over the verdict threshold
# The oracle curve fits and scores on the same queries: it is optimistic and shown only as such.

# %%
import tempfile

from IPython.display import Image

from evaluation.plots import coverage_precision

# The report's own plot, drawn to a file as `caseloop eval` does, and shown here.
path = coverage_precision(figures, Path(tempfile.mkdtemp()) / "coverage_precision.png")
Image(filename=path)

# %% [markdown]
# ## Where escalations remain
# Steps of the replay: no-match queries must escalate; the rest escalate for a reason.

# %%
steps = pd.DataFrame(
    {
        "no_match": s.no_match,
        "answered": s.answered,
        "correct": s.correct,
        "reason": s.reason or "answer",
        "visible_cases": s.visible_cases,
    }
    for s in report.steps
)
assert not (steps["correct"] & steps["no_match"]).any()
steps.groupby(["no_match", "reason"]).size().unstack(fill_value=0)

# %% [markdown]
# Answered share as the case base grows: early queries see few cases.

# %%
steps["block"] = pd.qcut(steps.index, 5, labels=False)
steps.groupby("block")[["visible_cases", "answered", "correct"]].mean().round(3)
