"""What `caseloop tune` gains on BANKING77 and Bitext: held-out MRR and escalation drop, before/after.

For each data set, the project's own split (`caseloop eval convert …` defaults: held-out intents
whose questions must escalate, cases and questions on a seeded clock) is indexed with the
default backend; `flows.tuning.tune` fine-tunes MiniLM on the earlier 80% of the answerable
questions (question → a case of its intent) and compares both encoders on the later 20%
(MRR@10 of the dense ranking over every case, paired bootstrap interval of the gain), then
replays that later period as escalations with each encoder (`flows.tuning.drop_check`: all its
questions, no-match ones included; all cases, each visible from its resolution time; the verdict
cross-fitted per encoder). The replay runs whatever the MRR gain (``min_gain=-1``); the line
says whether the shipped rule (MRR interval above 0 and a drop that does not fall) switches.

``--grid`` chooses the epochs and learning rate on the training slice only: each candidate is
tuned on the earlier 80% of the training questions and judged on the later 20% of them (the
held-out slice is never seen); the candidate with the highest MRR gain there (``--select-by
drop``: the highest escalation-drop gain, replayed over that later period) is then measured as
above (``--select-only``: not). Without ``--grid`` ``--epochs`` and ``--learning-rate`` are.

Usage::

    CASELOOP_BENCH_DATA=path/to/data python benchmarks/tuning.py [--grid 1:2e-5,1:5e-5,1:1e-4]
        [--max-queries 3000] [--only BANKING77] [--json out.json]

``CASELOOP_BENCH_DATA`` (or ``--data``) is a folder with ``banking77/train.csv`` and
``bitext_customer_support/*.csv``; a missing set is skipped with a message.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

import retrieval
from evaluation import (
    Dataset,
    SplitPlan,
    convert_banking77,
    convert_bitext,
    escalation_replay,
)
from evaluation.casebase import case_document
from evaluation.escalation import FIGURES, compare
from flows.tuning import split, training_pairs, tune
from retrieval.finetune import TuningParams, fine_tune

SHOWN = ("escalation_drop", "answered_precision", "no_match_escalated")  # the printed figures

SETS = {
    "BANKING77": ("banking77/train.csv", convert_banking77),
    "Bitext": (
        "bitext_customer_support/Bitext_Sample_Customer_Support_Training_Dataset.v337b968.csv",
        convert_bitext,
    ),
}


def _fmt(e: dict[str, Any]) -> str:
    if e["value"] is None or e["low"] is None or e["high"] is None:
        return "n/a"  # e.g. the precision of answers when nothing was answered
    return f"{100 * e['value']:.1f}% [{100 * e['low']:.1f}, {100 * e['high']:.1f}]"


def parse_grid(text: str, base: TuningParams) -> list[TuningParams]:
    """``"1:2e-5,2:5e-5"`` → candidates of (epochs, learning rate), the rest as in ``base``."""
    out = []
    for item in text.split(","):
        epochs, rate = item.split(":")
        out.append(dataclasses.replace(base, epochs=int(epochs), learning_rate=float(rate)))
    return out


def select(
    index: retrieval.Index,
    dataset: Dataset,
    grid: list[TuningParams],
    settings: retrieval.RetrievalSettings,
    holdout: float,
) -> tuple[TuningParams, list[dict[str, Any]]]:
    """The candidate with the highest MRR gain within the training slice (earlier → later)."""
    train, _ = split(dataset, holdout)
    inner = Dataset(dataset.cases, tuple(train))
    tried: list[dict[str, Any]] = []
    for params in grid:
        started = time.perf_counter()
        # min_gain above any reachable gain: judged, never switched, the tuned copy deleted.
        report = tune(index, inner, settings=settings, params=params, holdout=holdout, min_gain=1.0)
        seconds = time.perf_counter() - started
        line = report.line().split(";")[0].removeprefix("encoder tuning: ")
        print(f"  {params.epochs} × {params.learning_rate:g}: {line} ({seconds:.0f} s)")
        tried.append({"params": dataclasses.asdict(params), **report.to_dict()})
    gains = [t["gain"]["value"] if t["gain"] else -1.0 for t in tried]
    best = grid[int(np.argmax(gains))]  # the first of equals: the earlier, gentler candidate
    return best, tried


def select_by_drop(
    index: retrieval.Index,
    dataset: Dataset,
    grid: list[TuningParams],
    settings: retrieval.RetrievalSettings,
    holdout: float,
    work: Path,
) -> tuple[TuningParams, list[dict[str, Any]]]:
    """The candidate whose escalation drop gains most within the training slice.

    Each is tuned on the earlier 80% of the training questions and replayed, with the current
    encoder, over the period of the later 20% of them (that period's no-match questions too).
    """
    train, held = split(dataset, holdout)
    inner = Dataset(dataset.cases, tuple(train))
    inner_train, inner_held = split(inner, holdout)
    start = min(q.asked_at for q in inner_held if q.asked_at)
    end = min(q.asked_at for q in held if q.asked_at)
    period = Dataset(
        dataset.cases, tuple(q for q in dataset.queries if q.asked_at and start <= q.asked_at < end)
    )
    current = escalation_replay(period, settings=settings, workdir=work / "select-current")
    print(
        f"  current: escalation drop {_fmt(current.ours.estimates['escalation_drop'].as_dict())} "
        f"over {len(period.queries)}"
    )
    tried: list[dict[str, Any]] = []
    for n, params in enumerate(grid):
        started = time.perf_counter()
        pairs = training_pairs(inner, inner_train, seed=params.seed)
        model = fine_tune(index.encoder_choice.model, pairs, work / f"select-{n}", params)
        tuned = settings.model_copy(update={"model": str(model.folder)})
        report = escalation_replay(period, settings=tuned, workdir=work / f"select-replay-{n}")
        gain = compare(report, current)["escalation_drop"].as_dict()
        row = {k: report.ours.estimates[k].as_dict() for k in FIGURES}
        seconds = time.perf_counter() - started
        print(
            f"  {params.epochs} × {params.learning_rate:g}: {len(pairs)} pairs, escalation drop "
            f"{_fmt(row['escalation_drop'])}, gain {_fmt(gain)}, answered precision "
            f"{_fmt(row['answered_precision'])}, no-match escalated "
            f"{_fmt(row['no_match_escalated'])} ({seconds:.0f} s)"
        )
        tried.append({"params": dataclasses.asdict(params), "gain": gain, "seconds": seconds})
        tried[-1] |= row
    tried.insert(0, {"current": {k: current.ours.estimates[k].as_dict() for k in FIGURES}})
    best = grid[int(np.argmax([t["gain"]["value"] for t in tried[1:]]))]
    return best, tried


def measure(name: str, dataset: Dataset, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    base = retrieval.RetrievalSettings(
        encoder=args.backend, model_dir=work / "models", publish_interval=3600.0
    )
    params = TuningParams(
        epochs=args.epochs, learning_rate=args.learning_rate, batch_size=args.batch_size
    )
    out: dict[str, Any] = {"cases": len(dataset.cases), "questions": len(dataset.queries)}
    with retrieval.open_index(work / name / "index", settings=base) as index:
        index.upsert(case_document(case) for case in dataset.cases)
        if args.grid:
            print(f"## {name}: choosing on the training slice only (earlier 80% → later 20%)")
            started = time.perf_counter()
            grid = parse_grid(args.grid, params)
            params, out["selection"] = (
                select_by_drop(index, dataset, grid, base, args.holdout, work / name)
                if args.select_by == "drop"
                else select(index, dataset, grid, base, args.holdout)
            )
            out["selection_seconds"] = time.perf_counter() - started
            print(f"  chosen: {params.epochs} × {params.learning_rate:g}")
            if args.select_only:
                return out
        started = time.perf_counter()
        report = tune(
            index, dataset, settings=base, params=params, holdout=args.holdout, min_gain=-1.0
        )
        seconds = time.perf_counter() - started
    out.update(params=dataclasses.asdict(params), tune=report.to_dict(), tune_seconds=seconds)
    if report.gain is None:
        print(f"## {name}: {report.line()}")
        return out
    would = report.gain.low is not None and report.gain.low > 0 and report.switched
    out["would_switch"] = would
    print(
        f"## {name}: {len(dataset.cases)} cases, {report.pairs} training pairs, "
        f"{report.held_out} later questions; {params.epochs} × {params.learning_rate:g}; "
        f"tuning, judging and replaying took {seconds:.0f} s"
    )
    print(report.line())
    print(f"the shipped rule would {'switch' if would else 'keep the current encoder'}")
    if report.drop is not None:
        drop = report.drop
        print(
            f"escalation replay on the later period ({drop.queries} questions, target precision "
            f"{drop.target_precision:.0%}, cross-fitted over 5 time-ordered folds):"
        )
        print(f"{'encoder':8} " + " ".join(f"{figure:>22}" for figure in SHOWN))
        for label, point in (("current", drop.current), ("tuned", drop.tuned)):
            print(
                f"{label:8} " + " ".join(f"{_fmt(point.estimates[f].as_dict()):>22}" for f in SHOWN)
            )
    return out


def _plan(name: str, max_queries: int | None) -> SplitPlan:
    """The converter's default plan with another cap on questions (``None``: every question)."""
    if name == "BANKING77":
        return SplitPlan(prefix="b77-", max_queries=max_queries)
    return SplitPlan(prefix="btx-", held_out_count=3, max_queries=max_queries)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=os.environ.get("CASELOOP_BENCH_DATA"),
        help="folder with banking77/ and bitext_customer_support/ (or CASELOOP_BENCH_DATA)",
    )
    parser.add_argument(
        "--backend",
        default=retrieval.RetrievalSettings.model_fields["encoder"].default,
        help="backend of the index and of both encoders (default: the settings' default)",
    )
    parser.add_argument("--epochs", type=int, default=TuningParams().epochs)
    parser.add_argument("--learning-rate", type=float, default=TuningParams().learning_rate)
    parser.add_argument("--batch-size", type=int, default=TuningParams().batch_size)
    parser.add_argument("--holdout", type=float, default=0.2)
    parser.add_argument("--only", choices=sorted(SETS), help="one data set only")
    parser.add_argument(
        "--grid",
        help="candidates 'epochs:rate,…' chosen among on the training slice (e.g. 1:2e-5,1:5e-5)",
    )
    parser.add_argument(
        "--select-by",
        choices=("mrr", "drop"),
        default="mrr",
        help="--grid's criterion: the MRR gain or the escalation-drop gain (a replay per candidate)",
    )
    parser.add_argument(
        "--select-only", action="store_true", help="stop after --grid's choice (no held-out run)"
    )
    parser.add_argument(
        "--max-queries",
        type=int,
        help="cap on the split's questions (default: the converters' 1,000; 0: every question)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    if args.data is None:
        print("tuning benchmark skipped: give --data or CASELOOP_BENCH_DATA (BANKING77, Bitext)")
        return
    print(f"# encoder tuning (backend {args.backend}); {TuningParams()}")
    work = Path(tempfile.mkdtemp(prefix="caseloop-tune-bench-"))
    results: dict[str, Any] = {"backend": args.backend, "args": vars(args) | {"data": None}}
    for name, (relative, convert) in SETS.items():
        path = Path(args.data) / relative
        if args.only and name != args.only:
            continue
        if not path.exists():
            print(f"{name} skipped: {path} not found")
            continue
        cap = {} if args.max_queries is None else {"plan": _plan(name, args.max_queries or None)}
        results[name] = measure(name, convert(path, **cap), args, work)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
