"""Batch-run bookkeeping in ``flow_runs``: the learning window starts where the last good run began.

A run is recorded as ``running`` when it starts and ``completed`` or ``failed`` when it ends, with
its report. The next run's window starts at the *start* of the last completed run, so changes
that landed while that run was working are looked at again (re-reading is free: content hashes).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from ingestion.schema import FlowRun
from ingestion.store import Store


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
