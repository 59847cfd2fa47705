"""`ticket_sync`: keep escalation payloads, evidence and outbox consistent with the tickets.

Thin wrapper over `ingestion.drift` and `ingestion.outbox`: for every open ticket, context added to its
conversation after the ticket was created and not on the ticket yet is pushed as one bot note
(once); outbox rows pending past ``sync_stuck_after_seconds`` are made due and the relay drains
them; every mirrored ticket not closed or deleted is compared with the ticketing system and the
drift (missing ticket, status mismatch) is reported. Ticketing calls retry on
`TicketingUnavailable` and share the ``caseloop-ticketing`` concurrency limit with learning.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, unmapped
from prefect.artifacts import create_markdown_artifact
from sqlalchemy import select

from flows.errors import RunFailed
from flows.tasks import (
    ensure_ticketing_limit,
    owned_adapter,
    owned_store,
    ticketing_slot,
    ticketing_task,
)
from ingestion import drift as checks
from ingestion import outbox
from ingestion.cases.runs import finish_run, start_run
from ingestion.schema import Ticket
from ingestion.settings import IngestionSettings
from ingestion.status import FINAL_STATUSES
from ingestion.store import Store
from ingestion.ticketing import TicketingAdapter

FLOW_NAME = "ticket_sync"
#: Per ticket: its id and the check's result, or the exception that failed it.
Results = Iterator[tuple[int, Any]]
Each = Callable[[str, Store, TicketingAdapter, list[int]], Results]


@dataclass(slots=True)
class TicketSyncReport:
    """What one sync run did and found."""

    notes_pushed: list[str] = field(default_factory=list)
    redriven: list[int] = field(default_factory=list)
    delivered: int = 0
    drift: list[checks.Drift] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"ticket_sync: notes pushed {len(self.notes_pushed)}, outbox re-driven "
            f"{len(self.redriven)}, delivered {self.delivered}, drift {len(self.drift)}, "
            f"failed {len(self.failed)}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "notes_pushed": self.notes_pushed,
            "redriven": self.redriven,
            "delivered": self.delivered,
            "drift": [
                {"ticket": d.external_id, "kind": d.kind, "detail": d.detail} for d in self.drift
            ],
            "failed": self.failed,
        }

    def markdown(self) -> str:
        lines = [self.line(), ""]
        lines += [f"- `{d.external_id}` {d.kind}: {d.detail}" for d in self.drift[:200]]
        return "\n".join(lines)


@ticketing_task("push-context-{ticket_id}")
def push_context(store: Store, adapter: TicketingAdapter, ticket_id: int) -> bool:
    """Push one open ticket's late context as a note (once)."""
    with ticketing_slot():
        return checks.push_context(store, adapter, ticket_id)


@ticketing_task("drift-{ticket_id}")
def check_drift(store: Store, adapter: TicketingAdapter, ticket_id: int) -> checks.Drift | None:
    """Compare one mirrored ticket with the ticketing system."""
    with ticketing_slot():
        return checks.drift(store, adapter, ticket_id)


@flow(name=FLOW_NAME, validate_parameters=False)
def ticket_sync(
    settings: Any = None,
    store: Any = None,
    adapter: Any = None,
    drain_relay: bool = True,
    env_file: str | None = None,
) -> TicketSyncReport:
    """One consistency pass; builds what it is not given from the environment plus ``env_file``.

    A pass that failed any ticket raises `RunFailed` (state ``Failed``) after storing and
    publishing its report.
    """
    settings = settings or IngestionSettings.load(Path(env_file) if env_file else None)
    with ExitStack() as resources:
        store = store or owned_store(settings, resources)
        adapter = adapter or owned_adapter(settings, resources)
        return _run(settings, store, adapter, drain_relay)


def _run(
    settings: IngestionSettings, store: Any, adapter: Any, drain_relay: bool
) -> TicketSyncReport:
    logger = get_run_logger()
    ensure_ticketing_limit(settings)
    report = sync_once(settings, store, adapter, drain_relay=drain_relay, each=_as_tasks)
    create_markdown_artifact(report.markdown(), key="ticket-sync-report", description=report.line())
    logger.info(report.line())
    if report.failed:
        raise RunFailed(report.line(), report)
    return report


def _as_tasks(kind: str, store: Store, adapter: TicketingAdapter, ids: list[int]) -> Results:
    """Each ticket's check as a Prefect task (retried, concurrency-limited), in ``ids`` order."""
    task: Any = push_context if kind == "push" else check_drift
    futures = task.map(unmapped(store), unmapped(adapter), ids)
    for ticket_id, future in zip(ids, futures, strict=True):
        try:
            yield ticket_id, future.result()
        except Exception as exc:  # failed after its retries: reported, the others go on
            yield ticket_id, exc


def _one_by_one(kind: str, store: Store, adapter: TicketingAdapter, ids: list[int]) -> Results:
    """Each ticket's check in turn, without Prefect and without retries."""
    from ingestion.errors import TicketingError

    call = checks.push_context if kind == "push" else checks.drift
    for ticket_id in ids:
        try:
            yield ticket_id, call(store, adapter, ticket_id)
        except TicketingError as exc:
            yield ticket_id, exc


def _redrive(
    settings: IngestionSettings,
    store: Any,
    adapter: Any,
    now: dt.datetime,
    drain_relay: bool,
    report: TicketSyncReport,
) -> None:
    stuck = outbox.stuck_outbox(store, now=now, older_than=settings.sync_stuck_after_seconds)
    if not stuck:
        return
    outbox.redrive_stuck(store, stuck, now=now)
    report.redriven = stuck
    if drain_relay:
        from ingestion.relay import Relay

        result = Relay(store, adapter, settings).drain()
        report.delivered = result.delivered


def _watched(store: Any, source: str) -> list[int]:
    """Mirrored tickets whose state can still drift (not closed, not deleted)."""
    with store.transaction() as tx:
        query = select(Ticket.id).where(
            Ticket.source == source, Ticket.status.not_in(FINAL_STATUSES)
        )
        return list(tx.scalars(query.order_by(Ticket.id)))


def sync_once(
    settings: IngestionSettings,
    store: Any,
    adapter: Any,
    *,
    drain_relay: bool = True,
    progress: Any = None,
    each: Each = _one_by_one,
) -> TicketSyncReport:
    """One consistency pass, recorded in ``flow_runs`` (the flow's and ``caseloop sync --once``'s).

    ``each`` runs the per-ticket checks (in turn here; as Prefect tasks in the flow), and a
    ticket whose check failed is listed in ``failed``; ``progress(done, total)`` is called as
    tickets are checked.
    """
    now = dt.datetime.now(dt.UTC)
    run_id = start_run(store, FLOW_NAME, now=now, window_start=None)
    report = TicketSyncReport()
    try:
        _redrive(settings, store, adapter, now, drain_relay, report)
        open_ids = checks.open_tickets(store, adapter.source)
        watched = _watched(store, adapter.source)
        total, done = len(open_ids) + len(watched), 0
        for kind, ids in (("push", open_ids), ("drift", watched)):
            for ticket_id, result in each(kind, store, adapter, ids):
                if isinstance(result, Exception):
                    report.failed.append(f"ticket {ticket_id}: {result}")
                elif kind == "push" and result:
                    report.notes_pushed.append(str(ticket_id))
                elif kind == "drift" and result is not None:
                    report.drift.append(result)
                done += 1
                if progress:
                    progress(done, total)
    except BaseException as exc:
        finish_run(store, run_id, ok=False, report={"error": str(exc)}, now=dt.datetime.now(dt.UTC))
        raise
    finish_run(
        store, run_id, ok=not report.failed, report=report.to_dict(), now=dt.datetime.now(dt.UTC)
    )
    return report
