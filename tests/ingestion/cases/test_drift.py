"""The store side of ticket_sync on SQLite and PostgreSQL: late context and stuck outbox rows."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from ingestion.cases import drift
from ingestion.escalations import EscalationRequest, escalate
from ingestion.schema import OutboxRow
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from ingestion.ticket_body import inert
from tests.ingestion.cases.world import T0, World


def test_missing_context_lists_what_came_after_the_ticket(store: Store) -> None:
    world = World(store)
    world.escalate("1", "My order arrived broken")
    later = T0 + dt.timedelta(minutes=9)
    update = EscalationRequest.model_validate(
        {
            "session_id": "s-1",
            "escalation_event_id": "e2",
            "tenant": "acme",
            "transcript": [
                {"role": "customer", "text": "My order arrived broken", "at": T0.isoformat()},
                {"role": "customer", "text": "Photo attached now", "at": later.isoformat()},
            ],
            "evidence": [
                {
                    "doc_id": "kb-returns",
                    "type": "article",
                    "title": "Returns",
                    "score": 0.4,
                    "retrieved_at": later.isoformat(),
                }
            ],
            "reason": "conflict",
        }
    )
    escalate(store, update, settings=IngestionSettings(), clock=lambda: later)
    ticket_id = drift.open_tickets(store, "sim")[0]
    assert drift.missing_context(store, ticket_id) == [
        "2026-11-01 09:09 customer: Photo attached now",
        "2026-11-01 09:09 evidence kb-returns Returns",
    ]


def test_late_context_is_inert_like_the_ticket_body(store: Store) -> None:
    world = World(store)
    world.escalate("1", "My order arrived broken")
    later = T0 + dt.timedelta(minutes=9)
    hostile = "<script>x</script> [see](javascript:alert(1))"
    update = EscalationRequest.model_validate(
        {
            "session_id": "s-1",
            "escalation_event_id": "e2",
            "tenant": "acme",
            "transcript": [
                {"role": "customer", "text": "My order arrived broken", "at": T0.isoformat()},
                {"role": "customer", "text": hostile, "at": later.isoformat()},
            ],
            "evidence": [],
            "reason": "conflict",
        }
    )
    escalate(store, update, settings=IngestionSettings(), clock=lambda: later)
    ticket_id = drift.open_tickets(store, "sim")[0]
    assert drift.missing_context(store, ticket_id) == [
        f"2026-11-01 09:09 customer: {inert(hostile)}"
    ]
    assert inert(hostile) == "&lt;script>x&lt;/script> \\[see\\](javascript:alert(1))"


def test_stuck_rows_are_found_and_made_due(store: Store) -> None:
    world = World(store)
    world.escalate("1", "Question one")
    now = T0 + dt.timedelta(hours=2)
    with store.transaction() as tx:
        tx.add(
            OutboxRow(
                topic="ticket.note",
                aggregate_id="s-x",
                idempotency_key="k-leased",
                payload={},
                state="pending",
                next_attempt_at=now + dt.timedelta(days=1),
                lease_owner="alive",
                lease_expires_at=now + dt.timedelta(minutes=1),  # a live relay holds it
                created_at=T0,
            )
        )
        rows = {r.idempotency_key: r.id for r in tx.scalars(select(OutboxRow))}
        for row in tx.scalars(select(OutboxRow).where(OutboxRow.idempotency_key != "k-leased")):
            row.next_attempt_at = now + dt.timedelta(days=1)
    stuck = drift.stuck_outbox(store, now=now, older_than=900)
    assert stuck == [i for k, i in rows.items() if k != "k-leased"]
    assert drift.stuck_outbox(store, now=T0 + dt.timedelta(minutes=5), older_than=900) == []
    assert drift.redrive_stuck(store, stuck, now=now) == 1
    with store.transaction() as tx:
        row = tx.get_one(OutboxRow, stuck[0])
        assert row.next_attempt_at == now
        assert row.lease_owner is None
