"""The report's PNG plots (matplotlib, Agg backend: no display needed).

Each function draws one figure from report data and saves it to a path; they take plain values
(JSON from the commands, frames from `evaluation.online`) so notebooks can call them too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _points(points: Sequence[Mapping[str, Any]]) -> tuple[list[float], list[float]]:
    kept = [p for p in points if p["precision"] is not None]
    return [p["coverage"] for p in kept], [p["precision"] for p in kept]


def coverage_precision(escalation: Mapping[str, Any], path: Path) -> Path:
    """Coverage (escalation drop) against answered precision: ours, the baseline, the oracle,
    with the promised target precision; beside it, the share of no-match queries escalated
    along the same threshold sweep, with the no-match guard's promise."""
    plt = _pyplot()
    fig, (ax, guard) = plt.subplots(1, 2, figsize=(11.0, 4.4))
    ax.plot(*_points(escalation["curve"]), label="caseloop verdict (cross-fitted confidence)")
    ax.plot(*_points(escalation["baseline_curve"]), label="top-1 cosine threshold", linestyle="--")
    oracle = escalation.get("oracle_curve") or {}
    if oracle.get("points"):
        ax.plot(*_points(oracle["points"]), label="oracle (in-sample: optimistic)", linestyle=":")
    for name, marker in (("ours", "o"), ("baseline", "s")):
        source = escalation if name == "ours" else escalation["baseline"]
        drop, precision = source["escalation_drop"], source["answered_precision"]
        if precision["value"] is not None:
            ax.errorbar(
                drop["value"], precision["value"], marker=marker, color="black",
                xerr=[[drop["value"] - drop["low"]], [drop["high"] - drop["value"]]],
                yerr=[[precision["value"] - precision["low"]], [precision["high"] - precision["value"]]],
                label=f"operating point ({'caseloop' if name == 'ours' else 'baseline'}, 95% CI)",
            )  # fmt: skip
    target = escalation["target_precision"]
    ax.axhline(target, color="grey", linewidth=0.8, label=f"promised precision {target:.0%}")
    ax.set_xlabel("coverage = escalation drop (share of queries answered)")
    ax.set_ylabel("answered precision")
    ax.set_xlim(0, 1)
    ax.set_title("Coverage / precision over the verdict threshold")
    ax.legend(fontsize=7, loc="lower left")
    _guard_panel(guard, escalation)
    return _save(fig, path)


def _guard_panel(ax: Any, escalation: Mapping[str, Any]) -> None:
    """No-match queries escalated against coverage, the guard's promise and the result."""
    for key, label, style in (("curve", "caseloop verdict", "-"),
                              ("baseline_curve", "top-1 cosine threshold", "--")):  # fmt: skip
        kept = [p for p in escalation[key] if p.get("no_match_escalated") is not None]
        ax.plot([p["coverage"] for p in kept], [p["no_match_escalated"] for p in kept],
                linestyle=style, label=label)  # fmt: skip
    promise = escalation.get("promise") or {}
    share = promise.get("no_match_escalation")
    if share is not None:
        ax.axhline(share, color="grey", linewidth=0.8, label=f"no-match guard {share:.0%}")
    drop, escalated = escalation["escalation_drop"], escalation["no_match_escalated"]
    if escalated["value"] is not None:
        ax.errorbar(
            drop["value"], escalated["value"], marker="o", color="black",
            yerr=[[escalated["value"] - escalated["low"]], [escalated["high"] - escalated["value"]]],
            label="caseloop operating point (95% CI)",
        )  # fmt: skip
    ax.set_xlabel("coverage = escalation drop")
    ax.set_ylabel("share of no-match queries escalated")
    ax.set_xlim(0, 1)
    ax.set_title("No-match queries escalated over the same sweep")
    ax.legend(fontsize=7, loc="lower left")


def escalations_over_time(
    per_day: pd.DataFrame, learning_runs: Sequence[dt.datetime], path: Path
) -> Path:
    """Escalations per day, stacked by reason, with the learning runs as vertical lines."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.2, 3.8))
    if per_day.empty:
        ax.text(0.5, 0.5, "no escalations in the window", ha="center", transform=ax.transAxes)
    else:
        bottom = None
        for reason in per_day.columns:
            values = per_day[reason]
            ax.bar(per_day.index, values, bottom=bottom, label=str(reason), width=0.8)
            bottom = values if bottom is None else bottom + values
    for i, run in enumerate(learning_runs):
        when = pd.Timestamp(run).tz_convert(None)
        ax.axvline(when, color="black", linestyle=":", label="learning run" if i == 0 else None)
    ax.set_ylabel("escalations per day")
    ax.set_title("Escalations over time (dotted: learning runs)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    fig.autofmt_xdate()
    return _save(fig, path)


def by_reason(per_week: pd.DataFrame, path: Path) -> Path:
    """Escalations per week for each reason: where the drop comes from."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.2, 3.8))
    if per_week.empty:
        ax.text(0.5, 0.5, "no escalations in the window", ha="center", transform=ax.transAxes)
    else:
        frame = per_week.copy()
        frame.index = [str(i.date()) for i in frame.index]
        frame.T.plot.bar(ax=ax, rot=0)
        ax.legend(title="week of", fontsize=7)
    ax.set_ylabel("escalations")
    ax.set_title("Escalations by reason, week by week")
    return _save(fig, path)


def verdict_reasons(reasons: Mapping[str, int], path: Path) -> Path:
    """How the replay's queries were decided: answered, or escalated for which reason."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 3.4))
    names = sorted(reasons)
    ax.bar(names, [reasons[n] for n in names])
    ax.set_ylabel("queries")
    ax.set_title("Replay verdicts by reason")
    return _save(fig, path)


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path
