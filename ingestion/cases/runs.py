"""Batch runs in ``flow_runs``, and `run_learning`: the one entry of the nightly learning.

A run is recorded as ``running`` when it starts and ``completed`` or ``failed`` when it ends, with
its report. The next run's window starts at the *start* of the last completed run, so changes
that landed while that run was working are looked at again (re-reading is free: content hashes).
`run_learning` is what both the Prefect flow and ``caseloop learn`` call: window, bookkeeping,
`learn`, then the raw-text retention (`ingestion.cases.retention.purge`, off by default).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from ingestion.cases.learning import CaseIndex, Progress, learn
from ingestion.cases.report import LearningReport
from ingestion.cases.retention import purge
from ingestion.cases.ticketing import CaseTicketing
from ingestion.clock import utcnow
from ingestion.schema import FlowRun
from ingestion.settings import IngestionSettings
from ingestion.store import Store

#: The flow name learning runs are recorded under.
LEARNING = "nightly_learning"


def last_success(store: Store, flow: str) -> dt.datetime | None:
    """When the last completed run of ``flow`` started (None before the first)."""
    with store.transaction() as tx:
        query = (
            select(FlowRun.started_at)
            .where(FlowRun.flow == flow, FlowRun.status == "completed")
            .order_by(FlowRun.started_at.desc())
            .limit(1)
        )
        return tx.scalar(query)


def start_run(
    store: Store, flow: str, *, now: dt.datetime, window_start: dt.datetime | None
) -> int:
    """Record a run as started; returns its id."""
    with store.transaction() as tx:
        run = FlowRun(
            flow=flow,
            status="running",
            started_at=now,
            window_start=window_start,
            window_end=now,
            report={},
        )
        tx.add(run)
        tx.flush()
        return run.id


def finish_run(
    store: Store, run_id: int, *, ok: bool, report: dict[str, Any], now: dt.datetime
) -> None:
    """Record the end of a run and its report."""
    with store.transaction() as tx:
        run = tx.get_one(FlowRun, run_id)
        run.status = "completed" if ok else "failed"
        run.finished_at = now
        run.report = report


def run_learning(
    store: Store,
    ticketing: CaseTicketing | None,
    index: CaseIndex,
    settings: IngestionSettings,
    *,
    since: dt.datetime | None = None,
    everything: bool = False,
    progress: Progress | None = None,
) -> LearningReport:
    """One learning run: its window, its ``flow_runs`` row around `learn`, its report.

    The window starts at ``since``, else where the last completed run started; ``everything``
    looks at every resolved ticket. A run that raises is recorded as failed, then re-raised.
    """
    window = None if everything else (since or last_success(store, LEARNING))
    run_id = start_run(store, LEARNING, now=utcnow(), window_start=window)
    try:
        report = learn(store, ticketing, index, settings, since=window, progress=progress)
        # After learning: what is learned has been read (and redacted) before its text goes.
        retention = purge(store, settings)
    except BaseException as exc:
        finish_run(store, run_id, ok=False, report={"error": str(exc)}, now=utcnow())
        raise
    recorded = {**report.to_dict(), "retention": retention.to_dict()}
    finish_run(store, run_id, ok=report.ok, report=recorded, now=utcnow())
    return report
