"""`ticket_sync` against a real django-helpdesk: context pushed once, stuck outbox, drift."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select

from flows.errors import RunFailed
from flows.helpdesk import HelpdeskServer
from flows.ticket_sync import ticket_sync
from ingestion.adapters import HelpdeskAdapter
from ingestion.escalations import EscalationRequest, escalate
from ingestion.relay import Relay
from ingestion.schema import FlowRun, OutboxRow, Ticket
from ingestion.settings import IngestionSettings
from ingestion.store import Store

pytestmark = [pytest.mark.helpdesk, pytest.mark.usefixtures("prefect_harness")]
SETTINGS = IngestionSettings(sync_stuck_after_seconds=60)


def _request(session: str, event: str, texts: list[tuple[str, dt.datetime]]) -> EscalationRequest:
    return EscalationRequest.model_validate(
        {
            "session_id": session,
            "escalation_event_id": event,
            "tenant": "acme",
            "transcript": [
                {"role": "customer", "text": t, "at": at.isoformat()} for t, at in texts
            ],
            "evidence": [
                {
                    "doc_id": f"kb-{event}",
                    "type": "article",
                    "score": 0.3,
                    "retrieved_at": texts[-1][1].isoformat(),
                }
            ],
            "reason": "low_confidence",
        }
    )


def _ticket(store: Store, session: str) -> Ticket:
    with store.transaction() as tx:
        return tx.scalars(select(Ticket).where(Ticket.session_id == session)).one()


def _bodies(adapter: HelpdeskAdapter, external_id: str) -> list[str]:
    return [c.body for c in adapter.get_ticket(external_id).comments]


def test_context_added_later_is_pushed_once(
    sqlite_store: Store, helpdesk_adapter: HelpdeskAdapter
) -> None:
    store, adapter = sqlite_store, helpdesk_adapter
    session = f"sync-{uuid.uuid4().hex[:10]}"
    start = dt.datetime.now(dt.UTC)
    escalate(
        store, _request(session, "e1", [("My invoice total is wrong", start)]), settings=SETTINGS
    )
    Relay(store, adapter, SETTINGS).drain()
    later = start + dt.timedelta(minutes=5)
    update = _request(
        session, "e2", [("My invoice total is wrong", start), ("It says 0 EUR now", later)]
    )
    escalate(store, update, settings=SETTINGS)
    with store.transaction() as tx:  # the update's note was lost (e.g. restored from a backup)
        for row in tx.scalars(select(OutboxRow).where(OutboxRow.topic == "ticket.note")):
            row.state = "done"
    ticket = _ticket(store, session)

    first = ticket_sync(settings=SETTINGS, store=store, adapter=adapter)
    assert str(ticket.id) in first.notes_pushed
    pushed = [b for b in _bodies(adapter, ticket.external_id) if "It says 0 EUR now" in b]
    assert len(pushed) == 1
    assert "kb-e2" in pushed[0]
    second = ticket_sync(settings=SETTINGS, store=store, adapter=adapter)
    assert str(ticket.id) not in second.notes_pushed
    assert len([b for b in _bodies(adapter, ticket.external_id) if "It says 0 EUR now" in b]) == 1


def test_stuck_outbox_rows_are_redriven_and_delivered(
    sqlite_store: Store, helpdesk_adapter: HelpdeskAdapter
) -> None:
    store, adapter = sqlite_store, helpdesk_adapter
    session = f"stuck-{uuid.uuid4().hex[:10]}"
    now = dt.datetime.now(dt.UTC)
    escalate(store, _request(session, "e1", [("Cannot upload files", now)]), settings=SETTINGS)
    with store.transaction() as tx:  # a relay died holding a lease an hour ago, due in a day
        row = tx.scalars(select(OutboxRow).where(OutboxRow.aggregate_id == session)).one()
        row.created_at = now - dt.timedelta(hours=1)
        row.next_attempt_at = now + dt.timedelta(days=1)
        row.lease_owner, row.lease_expires_at = "dead-relay", now - dt.timedelta(minutes=50)
    report = ticket_sync(settings=SETTINGS, store=store, adapter=adapter)
    assert len(report.redriven) == 1
    assert report.delivered == 1
    assert adapter.find_by_conversation(f"acme/{session}") is not None  # tenant-qualified


def test_drift_reports_status_mismatch_and_missing_ticket(
    sqlite_store: Store, helpdesk_adapter: HelpdeskAdapter
) -> None:
    store, adapter = sqlite_store, helpdesk_adapter
    session = f"drift-{uuid.uuid4().hex[:10]}"
    escalate(
        store,
        _request(session, "e1", [("Where is my parcel?", dt.datetime.now(dt.UTC))]),
        settings=SETTINGS,
    )
    Relay(store, adapter, SETTINGS).drain()
    with store.transaction() as tx:
        ticket = tx.scalars(select(Ticket).where(Ticket.session_id == session)).one()
        ticket.status = "resolved"  # the store believes it resolved; the helpdesk says open
        tx.add(
            Ticket(
                source="helpdesk",
                external_id="987654",
                session_id="ghost",
                tenant="acme",
                status="escalated",
                created_at=dt.datetime.now(dt.UTC),
            )
        )
        external_id = ticket.external_id
    report = ticket_sync(settings=SETTINGS, store=store, adapter=adapter)
    kinds = {(d.external_id, d.kind) for d in report.drift}
    assert (external_id, "status_mismatch") in kinds
    assert ("987654", "missing_ticket") in kinds


def test_a_pass_that_failed_a_ticket_ends_failed_with_its_report(
    sqlite_store: Store, helpdesk_adapter: HelpdeskAdapter, helpdesk: HelpdeskServer
) -> None:
    store = sqlite_store
    session = f"fail-{uuid.uuid4().hex[:10]}"
    escalate(
        store,
        _request(session, "e1", [("My card was declined", dt.datetime.now(dt.UTC))]),
        settings=SETTINGS,
    )
    Relay(store, helpdesk_adapter, SETTINGS).drain()
    refused = HelpdeskAdapter(helpdesk.url, "not-the-token", queue=helpdesk.queue_id)
    try:
        state = ticket_sync(settings=SETTINGS, store=store, adapter=refused, return_state=True)
    finally:
        refused.close()
    assert state.is_failed()
    error = state.result(raise_on_failure=False)
    assert isinstance(error, RunFailed)
    assert len(error.report.failed) == 1
    with store.transaction() as tx:
        run = tx.scalars(select(FlowRun).order_by(FlowRun.id.desc())).first()
    assert run is not None
    assert (run.status, len(run.report["failed"])) == ("failed", 1)
