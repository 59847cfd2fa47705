"""Online metrics from the operational store, for a window of time.

Read through `evaluation.store_reader` (the store's table and column names, checked against
`ingestion/schema.py` in the tests), into pandas frames:

- escalations per day and per week, by reason;
- the escalation rate where the orchestrator reports session outcomes, with confirmed and
  assumed bot answers kept apart (a lenient and a strict resolution rate);
- time to first public agent reply and time to resolution (median and 90th percentile), and the
  reopen rate of tickets resolved in the window (caseloop's tickets only: those learning adopted
  from the ticketing system, ``origin = ticketing``, are left out);
- case summaries that were served and still followed by an escalation (review them);
- content gaps: clusters of ``no_evidence`` escalations that no case summary covers
  (`evaluation.gaps`);
- learning runs (``flow_runs`` whose flow name contains ``learning``), to mark them on plots.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Table, select

from evaluation import store_reader
from evaluation.errors import EvaluationError
from evaluation.gaps import ContentGap, content_gaps
from evaluation.store_reader import (
    ESCALATIONS,
    FLOW_RUNS,
    SESSION_OUTCOMES,
    TICKET_COMMENTS,
    TICKET_EVENTS,
    TICKETS,
    UTCTime,
)

_TABLES = (ESCALATIONS, TICKETS, TICKET_EVENTS, TICKET_COMMENTS, SESSION_OUTCOMES, FLOW_RUNS)


def _frame(table: Table, rows: list[store_reader.Row]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=[column.name for column in table.columns])
    for column in table.columns:
        if isinstance(column.type, UTCTime):
            frame[column.name] = pd.to_datetime(frame[column.name], utc=True, format="mixed")
    return frame


def read_store(url: str) -> dict[str, pd.DataFrame]:
    """The store's tables that online metrics need, with times as UTC timestamps."""
    rows = store_reader.read(url, {table.name: select(table) for table in _TABLES})
    return {table.name: _frame(table, rows[table.name]) for table in _TABLES}


def _in(frame: pd.DataFrame, column: str, since: dt.datetime, until: dt.datetime) -> pd.DataFrame:
    times = frame[column]
    return frame[(times >= pd.Timestamp(since)) & (times < pd.Timestamp(until))]


def escalations_by_period(escalations: pd.DataFrame, freq: str) -> pd.DataFrame:
    """Counts of escalations per period (``D`` day, ``W`` week) and reason."""
    if escalations.empty:
        return pd.DataFrame()
    periods = escalations["created_at"].dt.tz_convert(None).dt.to_period(freq).dt.start_time
    table = escalations.assign(period=periods).pivot_table(
        index="period", columns="reason", values="id", aggfunc="count", fill_value=0
    )
    return table.astype(int)


def outcome_rates(outcomes: pd.DataFrame) -> dict[str, Any]:
    """Escalation and resolution rates over sessions with a reported outcome."""
    n = len(outcomes)
    counts = Counter(zip(outcomes["outcome"], outcomes["confirmation"], strict=True))
    by = {
        f"{o}/{c}": counts[(o, c)]
        for o in ("answered_by_bot", "escalated", "abandoned")
        for c in ("confirmed", "assumed")
    }
    answered_confirmed = counts[("answered_by_bot", "confirmed")]
    answered = answered_confirmed + counts[("answered_by_bot", "assumed")]
    escalated = by["escalated/confirmed"] + by["escalated/assumed"]
    return {
        "sessions": n,
        "by_outcome": by,
        "escalation_rate": escalated / n if n else None,
        "resolution_rate_confirmed": answered_confirmed / n if n else None,
        "resolution_rate_with_assumed": answered / n if n else None,
    }


def _durations(hours: pd.Series) -> dict[str, float | int | None]:
    hours = hours.dropna()
    if hours.empty:
        return {"median_hours": None, "p90_hours": None, "n": 0}
    return {
        "median_hours": float(hours.median()),
        "p90_hours": float(hours.quantile(0.9)),
        "n": len(hours),
    }


def ticket_times(
    tickets: pd.DataFrame, events: pd.DataFrame, comments: pd.DataFrame
) -> dict[str, Any]:
    """Time to first public agent reply, time to resolution, and reopen rate."""
    replies = comments[(comments["author_role"] == "agent") & (comments["visibility"] == "public")]
    reply_at = (
        replies.assign(at=replies["created_at"].fillna(replies["mirrored_at"]))
        .groupby("ticket_id")["at"]
        .min()
    )
    events = events.assign(at=events["occurred_at"].fillna(events["recorded_at"]))
    resolved_at = events[events["to_status"] == "resolved"].groupby("ticket_id")["at"].min()
    created = tickets.set_index("id")["created_at"]
    first_reply = (reply_at.reindex(created.index) - created).dt.total_seconds() / 3600
    resolution = (resolved_at.reindex(created.index) - created).dt.total_seconds() / 3600
    resolved_ids = set(resolved_at.index) & set(created.index)
    reopened_ids = set(events[events["to_status"] == "reopened"]["ticket_id"]) & resolved_ids
    return {
        "first_agent_reply": _durations(first_reply),
        "resolution": _durations(resolution),
        "reopen_rate": len(reopened_ids) / len(resolved_ids) if resolved_ids else None,
        "tickets": len(created),
        "resolved": len(resolved_ids),
        "reopened": len(reopened_ids),
    }


def served_then_escalated(outcomes: pd.DataFrame, escalations: pd.DataFrame) -> dict[str, int]:
    """Case ids shown to the customer in sessions that still escalated, with how often."""
    counts: Counter[str] = Counter()
    for _, row in outcomes[outcomes["outcome"] == "escalated"].iterrows():
        counts.update(str(c) for c in row["served_case_ids"] or [])
    seen = set(outcomes[outcomes["outcome"] == "escalated"]["session_id"])
    for _, row in escalations.iterrows():
        if row["session_id"] in seen:
            continue  # already counted from the outcome report
        payload = row["payload"] or {}
        counts.update(
            str(e["doc_id"])
            for e in payload.get("evidence", [])
            if e.get("type", "").lower() in ("case", "case_summary")
        )
    return dict(counts.most_common())


def _question(payload: Mapping[str, Any]) -> str:
    lines = [
        m.get("text", "") for m in payload.get("transcript", []) if m.get("role") == "customer"
    ]
    return " ".join(lines) or str(payload.get("context", {}).get("summary", ""))


@dataclass(frozen=True, slots=True)
class OnlineReport:
    """Online metrics for one window."""

    since: dt.datetime
    until: dt.datetime
    per_day: pd.DataFrame
    per_week: pd.DataFrame
    outcomes: Mapping[str, Any]
    tickets: Mapping[str, Any]
    served_then_escalated: Mapping[str, int]
    gaps: tuple[ContentGap, ...]
    learning_runs: tuple[dt.datetime, ...]
    escalations: int

    def as_dict(self) -> dict[str, Any]:
        def table(frame: pd.DataFrame) -> dict[str, dict[str, int]]:
            return {
                str(idx.date()): {str(k): int(v) for k, v in row.items()}
                for idx, row in frame.iterrows()
            }

        return {
            "window": {"since": self.since.isoformat(), "until": self.until.isoformat()},
            "escalations": self.escalations,
            "escalations_per_day": table(self.per_day),
            "escalations_per_week": table(self.per_week),
            "session_outcomes": dict(self.outcomes),
            "tickets": dict(self.tickets),
            "served_then_escalated": dict(self.served_then_escalated),
            "content_gaps": [g.as_dict() for g in self.gaps],
            "learning_runs": [t.isoformat() for t in self.learning_runs],
        }


def online_metrics(url: str, since: dt.datetime, until: dt.datetime) -> OnlineReport:
    """Compute every online metric over ``[since, until)`` from the store at ``url``."""
    if since.tzinfo is None or until.tzinfo is None or since >= until:
        raise EvaluationError("window: since and until must be zone-aware with since < until")
    frames = read_store(url)
    escalations = _in(frames["escalations"], "created_at", since, until)
    # Tickets learning adopted (opened in the ticketing system, not escalated) are not ours.
    tickets = frames["tickets"][frames["tickets"]["origin"] != "ticketing"]
    tickets = _in(tickets, "created_at", since, until)
    outcomes = _in(frames["session_outcomes"], "reported_at", since, until)
    gaps_input = [
        _question(row["payload"] or {})
        for _, row in escalations.iterrows()
        if row["reason"] == "no_evidence" and not (row["payload"] or {}).get("evidence")
    ]
    runs = _in(frames["flow_runs"], "started_at", since, until)
    runs = runs[runs["flow"].str.contains("learning")]
    return OnlineReport(
        since=since,
        until=until,
        per_day=escalations_by_period(escalations, "D"),
        per_week=escalations_by_period(escalations, "W"),
        outcomes=outcome_rates(outcomes),
        tickets=ticket_times(tickets, frames["ticket_events"], frames["ticket_comments"]),
        served_then_escalated=served_then_escalated(outcomes, escalations),
        gaps=content_gaps([q for q in gaps_input if q.strip()]),
        learning_runs=tuple(t.to_pydatetime() for t in runs["started_at"]),
        escalations=len(escalations),
    )
