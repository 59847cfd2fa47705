"""Operational figures read from the store, so every replica and `caseloop status` agree.

One `snapshot(store)` reads the work queues (outbox, webhook inbox, pushes to the orchestrator),
the webhook rejection counters, the sync cursors, the learned cases and the flow runs in one
transaction. Nothing here is kept in process memory: a replica that just started reports the same
figures as one that has run for a month. `ingestion.http.metrics` renders a snapshot for
Prometheus; `docs/operations.md` says what healthy looks like for each figure.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from ingestion.clock import utcnow
from ingestion.schema import (
    CaseSummary,
    FlowRun,
    OutboxRow,
    OutgoingMessage,
    SyncCursor,
    WebhookDelivery,
    WebhookRejection,
)
from ingestion.store import Store

LEARNING_FLOW = "nightly_learning"
LEARNING_OUTCOMES = ("created", "updated", "retracted", "failed")


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """One work queue: pending rows, the oldest one's age, dead letters, attempts made."""

    depth: int
    oldest_age_seconds: float | None
    dead_letters: int
    retrying: int  # pending rows that failed at least once
    attempts: int  # attempts recorded on the rows the queue still holds


@dataclass(frozen=True, slots=True)
class SourceSync:
    """The polling sync of one ticketing source."""

    source: str
    lag_seconds: float  # now − cursor time (what `caseloop sync` prints)
    last_poll_age_seconds: float | None  # now − start of the last completed poll


@dataclass(frozen=True, slots=True)
class FlowFigures:
    """Runs of one flow by status, and how the latest one ended."""

    flow: str
    runs: dict[str, int]
    last_status: str
    last_started_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every operational figure at ``taken_at``."""

    taken_at: dt.datetime
    outbox: QueueFigures
    inbox: QueueFigures
    pushes: QueueFigures
    webhook_rejections: dict[str, dict[str, int]]  # source → reason → count
    sync: list[SourceSync]
    cases: dict[str, int]  # active | withdrawn → stored versions
    learning_last_run: dict[str, int]  # created, updated, retracted, failed of the latest run
    flows: list[FlowFigures]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (times as ISO 8601)."""
        data = asdict(self)
        data["taken_at"] = self.taken_at.isoformat()
        for flow in data["flows"]:
            flow["last_started_at"] = flow["last_started_at"].isoformat()
        return data


def snapshot(store: Store, *, now: dt.datetime | None = None) -> Snapshot:
    """Read every figure in one transaction."""
    when = now or utcnow()
    with store.transaction() as tx:
        return Snapshot(
            taken_at=when,
            outbox=_queue(tx, when, OutboxRow.state, OutboxRow.created_at, OutboxRow.attempts),
            inbox=_queue(
                tx,
                when,
                WebhookDelivery.state,
                WebhookDelivery.received_at,
                WebhookDelivery.attempts,
                dead="failed",
            ),
            pushes=_queue(
                tx,
                when,
                OutgoingMessage.push_state,
                OutgoingMessage.created_at,
                OutgoingMessage.push_attempts,
            ),
            webhook_rejections=_rejections(tx),
            sync=_sync(tx, when),
            cases=_grouped(tx, CaseSummary.state),
            learning_last_run=_learning(tx),
            flows=_flows(tx),
        )


def _queue(
    tx: Session,
    now: dt.datetime,
    state: InstrumentedAttribute[str],
    created: InstrumentedAttribute[dt.datetime],
    attempts: InstrumentedAttribute[int],
    *,
    dead: str = "dead",
) -> QueueFigures:
    pending: ColumnElement[bool] = state == "pending"
    depth, oldest, retrying = tx.execute(
        select(func.count(), func.min(created), func.count().filter(attempts > 0)).where(pending)
    ).one()
    dead_letters = tx.scalar(select(func.count()).where(state == dead)) or 0
    made = tx.scalar(select(func.coalesce(func.sum(attempts), 0))) or 0
    oldest_at = _aware(oldest) if oldest is not None else None
    return QueueFigures(
        depth=int(depth),
        oldest_age_seconds=(now - oldest_at).total_seconds() if oldest_at else None,
        dead_letters=int(dead_letters),
        retrying=int(retrying),
        attempts=int(made),
    )


def _rejections(tx: Session) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for row in tx.scalars(select(WebhookRejection).order_by(WebhookRejection.source)):
        found.setdefault(row.source, {})[row.reason] = int(row.count)
    return found


def _sync(tx: Session, now: dt.datetime) -> list[SourceSync]:
    return [
        SourceSync(
            source=c.source,
            lag_seconds=(now - _aware(c.updated_at)).total_seconds(),
            last_poll_age_seconds=(now - _aware(c.polled_at)).total_seconds()
            if c.polled_at
            else None,
        )
        for c in tx.scalars(select(SyncCursor).order_by(SyncCursor.source))
    ]


def _grouped(
    tx: Session, column: InstrumentedAttribute[str], *where: ColumnElement[bool]
) -> dict[str, int]:
    rows = tx.execute(select(column, func.count()).where(*where).group_by(column)).all()
    return {str(key): int(count) for key, count in rows}


def _learning(tx: Session) -> dict[str, int]:
    last = tx.scalars(
        select(FlowRun)
        .where(FlowRun.flow == LEARNING_FLOW, FlowRun.status != "running")
        .order_by(FlowRun.id.desc())
        .limit(1)
    ).first()
    counts = (last.report or {}).get("counts", {}) if last else {}
    return {name: int(counts.get(name, 0)) for name in LEARNING_OUTCOMES}


def _flows(tx: Session) -> list[FlowFigures]:
    figures = []
    for flow in tx.scalars(select(FlowRun.flow).distinct().order_by(FlowRun.flow)):
        runs = _grouped(tx, FlowRun.status, FlowRun.flow == flow)
        last = tx.scalars(
            select(FlowRun).where(FlowRun.flow == flow).order_by(FlowRun.id.desc()).limit(1)
        ).one()
        figures.append(FlowFigures(flow, runs, last.status, _aware(last.started_at)))
    return figures


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
