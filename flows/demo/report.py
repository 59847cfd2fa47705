"""The demo's report folder: a Markdown report and PNG plots from one run.

Everything written here comes from the run's ledger: no figure is typed in by hand.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from evaluation.drop import Drop
from flows.demo.ledger import DayStats

if TYPE_CHECKING:
    from matplotlib.figure import Figure

REASONS = ("no_evidence", "low_confidence", "conflict")
#: The stacked bars of the plot, bottom to top: DayStats field, legend label, colour.
BARS = (
    ("escalations", "escalated to an agent", "#d62728"),
    ("answered_right", "bot answered, right", "#2ca02c"),
    ("answered_wrong", "bot answered, wrong", "#ff7f0e"),
)
COLUMNS = (
    ("day", "day"),
    ("conversations", "conversations"),
    ("answered_right", "bot answered, right"),
    ("answered_wrong", "bot answered, wrong"),
    ("escalations", "escalations"),
    ("tickets_created", "tickets created"),
    ("replies_forwarded", "agent replies forwarded"),
    ("notes_forwarded", "internal notes forwarded"),
    ("cases_learned", "case summaries learned (night)"),
)


@dataclass(frozen=True, slots=True)
class RunFacts:
    """What the report says besides the table: settings of the run and how it was calibrated."""

    days: int
    conversations_per_day: int
    calibration: str
    policy: dict[str, object]
    helpdesk_url: str
    service_url: str
    learning: str
    seconds: float
    online: dict[str, str] = field(default_factory=dict)


def write_report(folder: Path, table: list[DayStats], drop: Drop, facts: RunFacts) -> Path:
    """Write ``report.md`` and ``escalations.png`` into ``folder``; returns the report's path."""
    folder.mkdir(parents=True, exist_ok=True)
    plot = plot_days(table, folder / "escalations.png")
    path = folder / "report.md"
    path.write_text(_markdown(table, drop, facts, plot.name), encoding="utf-8")
    return path


def drop_line(drop: Drop) -> str:
    """One sentence: the drop, its interval and the two rates it compares."""
    return (
        f"escalation drop, first day → last day: {drop.value:.0%} "
        f"({drop.confidence:.0%} bootstrap interval {drop.low:.0%} … {drop.high:.0%}; "
        f"escalation rate {drop.first_rate:.0%} → {drop.last_rate:.0%}, "
        f"{drop.resamples} resamples)"
    )


def _markdown(table: list[DayStats], drop: Drop, facts: RunFacts, plot: str) -> str:
    header = "| " + " | ".join(title for _, title in COLUMNS) + " |"
    rule = "|" + " --- |" * len(COLUMNS)
    rows = []
    for stats in table:
        cells = [str(getattr(stats, name)) for name, _ in COLUMNS]
        if stats is table[-1]:
            cells[-1] = "–"  # the run ends before the last night
        rows.append("| " + " | ".join(cells) + " |")
    policy = _policy(facts.policy)
    lines = [
        "# caseloop demo report",
        "",
        f"Run at {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC: {facts.days} simulated days, "
        f"{facts.conversations_per_day} conversations a day, {facts.seconds:.0f} s.",
        "",
        "## Day by day",
        "",
        header,
        rule,
        *rows,
        "",
        f"**{drop_line(drop)}.**",
        "",
        "The drop is 1 − (last day's escalation rate / first day's); the interval resamples each "
        "day's conversations with replacement (percentile bootstrap).",
        "",
        "## Why the bot escalated",
        "",
        "| day | escalations | about a problem with no learned case yet | "
        + " | ".join(REASONS)
        + " |",
        "|" + " --- |" * (3 + len(REASONS)),
        *(_reason_row(stats) for stats in table),
        "",
        "`no_evidence`: nothing close enough in the index; `low_confidence`: the calibrated "
        "confidence is below the threshold; `conflict`: near-equal cases disagree.",
        "",
        f"![escalations and bot answers by day]({plot})",
        "",
        "## Online metrics",
        "",
        "What `evaluation.online_metrics` reads from the demo's store (the chatbot reports every "
        "session's outcome with `POST /sessions/{id}/outcome`; a customer confirms a right "
        "answer and leaves after a wrong one, which the bot can only count as assumed):",
        "",
        *(f"- {name}: {value}" for name, value in facts.online.items()),
        "",
        "## How this run was set up",
        "",
        f"- Verdict calibration: {facts.calibration}",
        f"- Verdict policy: {policy or '(retrieval defaults)'}",
        f"- Learning each night: {facts.learning}",
        f"- Helpdesk (django-helpdesk): {facts.helpdesk_url}",
        f"- caseloop service: {facts.service_url}",
        "- A bot answer counts as right when the case it answered from was learned from a "
        "conversation with the same Bitext intent.",
        "- Customers asking for a person (`contact_human_agent`, about 5%) are handled like any "
        "other problem: the learned answer tells them how to reach the team.",
        "- Two problems (`check_payment_methods`, `registration_problems`) first appear on day 3: "
        "their first customers escalate, which is the loop working, not failing.",
        "",
    ]
    return "\n".join(lines)


def _reason_row(stats: DayStats) -> str:
    counts = dict(stats.reasons)
    cells = [stats.day, stats.escalations, stats.novel_escalations]
    cells += [counts.get(reason, 0) for reason in REASONS]
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def _policy(policy: dict[str, object]) -> str:
    def short(value: object) -> str:
        if isinstance(value, float):
            return f"{value:.3g}"
        if isinstance(value, list | tuple):
            return "[" + ", ".join(short(v) for v in value) + "]"
        return str(value)

    return ", ".join(f"{key}={short(value)}" for key, value in sorted(policy.items()))


def plot_days(table: list[DayStats], path: Path) -> Path:
    """Write `days_figure` as a PNG."""
    days_figure(table).savefig(path)
    return path


def days_figure(table: list[DayStats]) -> Figure:
    """Two panels over the same days, each with its own honest axis.

    Top: what happened to each day's conversations (stacked counts: escalated, answered right,
    answered wrong), on a count axis from 0. Bottom: the escalation rate, on a 0-100 % axis. The
    legend sits above the bars, outside the plotting area, so it never covers a bar.
    """
    from matplotlib.figure import Figure  # no pyplot: no global state, no display needed
    from matplotlib.ticker import PercentFormatter

    days = [stats.day for stats in table]
    figure = Figure(figsize=(7, 5.2), dpi=120, layout="constrained")
    counts, rates = figure.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    bottom = [0] * len(days)
    for name, label, colour in BARS:
        values = [getattr(stats, name) for stats in table]
        counts.bar(days, values, bottom=bottom, color=colour, label=label)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    counts.set_ylabel("conversations")
    counts.set_ylim(0, max(bottom, default=1) * 1.05 or 1)
    counts.legend(
        loc="lower left",
        bbox_to_anchor=(0, 1.02),
        ncols=3,
        fontsize="small",
        frameon=False,
        borderaxespad=0,
    )
    counts.set_title("caseloop demo: escalations drop as resolved cases are learned", pad=28)
    rate = [stats.escalation_rate for stats in table]
    rates.plot(days, rate, color="#d62728", marker="o", clip_on=False)
    for day, value in zip(days, rate, strict=True):
        # Below the point near the top, so the label stays inside the 0-100 % frame.
        offset = (0, -14) if value > 0.85 else (0, 7)
        rates.annotate(
            f"{value:.0%}",
            (day, value),
            textcoords="offset points",
            xytext=offset,
            ha="center",
            fontsize="small",
        )
    rates.set_ylim(0, 1)
    rates.yaxis.set_major_formatter(PercentFormatter(1.0))
    rates.set_ylabel("escalation rate")
    rates.set_xlabel("simulated day")
    rates.set_xticks(days)
    rates.grid(axis="y", alpha=0.3)
    return figure
