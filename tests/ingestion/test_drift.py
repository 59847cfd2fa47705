"""The store side of ticket_sync on SQLite and PostgreSQL: late context."""

from __future__ import annotations

import datetime as dt

from ingestion import drift
from ingestion.escalations import EscalationRequest, escalate
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
