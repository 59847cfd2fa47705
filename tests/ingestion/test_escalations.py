"""escalate(): one transaction, deterministic keys, replays, conflicts, updates of open tickets."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import func, select

from ingestion import (
    EscalationRequest,
    IdempotencyConflict,
    IngestionSettings,
    InvalidEscalation,
    NotFound,
    StoreError,
    escalate,
    escalation_key,
    get_escalation,
)
from ingestion.schema import Escalation, OutboxRow, Ticket
from ingestion.store import Store
from tests.support.fake_ticketing import T0, escalation_payload, later_event

SETTINGS = IngestionSettings()


def request(payload: dict[str, object]) -> EscalationRequest:
    return EscalationRequest.model_validate(payload)


def rows(store: Store) -> tuple[int, int]:
    with store.transaction() as tx:
        escalations = tx.scalar(select(func.count()).select_from(Escalation))
        outbox = tx.scalar(select(func.count()).select_from(OutboxRow))
    return int(escalations or 0), int(outbox or 0)


def test_key_is_uuid5_over_session_and_event() -> None:
    key = escalation_key("sess-1", "ev-1", "acme")
    assert uuid.UUID(key).version == 5
    assert key == escalation_key("sess-1", "ev-1", "acme")
    assert key != escalation_key("sess-1", "ev-2", "acme")
    # "a:b" + "c" and "a" + "b:c" are different events but the same joined text; document it
    assert escalation_key("a:b", "c") == escalation_key("a", "b:c")


def test_escalation_and_outbox_row_commit_together(store: Store) -> None:
    view = escalate(store, request(escalation_payload()), settings=SETTINGS, clock=lambda: T0)
    assert (view.state, view.kind, view.replayed) == ("pending", "create", False)
    assert view.id == escalation_key("sess-1", "ev-1", "acme")
    assert view.created_at == T0
    with store.transaction() as tx:
        box = tx.scalars(select(OutboxRow)).one()
        row = tx.get(Escalation, view.id)
    assert row is not None
    assert (row.tenant, row.reason, row.intent) == ("acme", "no_evidence", "billing.vat")
    assert row.payload["transcript"][1]["at"] == "2026-03-02T09:00:05Z"
    assert (box.topic, box.aggregate_id, box.idempotency_key) == (
        "ticket.create",
        "sess-1",
        view.id,
    )
    assert box.payload == {"escalation_id": view.id, "previous_escalation_id": None}


def test_same_event_again_returns_existing_without_new_rows(store: Store) -> None:
    first = escalate(store, request(escalation_payload()), settings=SETTINGS)
    again = escalate(store, request(escalation_payload()), settings=SETTINGS)
    assert again.replayed
    assert again.id == first.id
    assert again.created_at == first.created_at
    assert rows(store) == (1, 1)


def test_same_key_different_payload_is_a_conflict(store: Store) -> None:
    escalate(store, request(escalation_payload()), settings=SETTINGS)
    with pytest.raises(IdempotencyConflict, match="different payload"):
        escalate(store, request(escalation_payload(reason="conflict")), settings=SETTINGS)
    assert rows(store) == (1, 1)


def test_new_event_while_create_pending_becomes_an_update(store: Store) -> None:
    first = escalate(store, request(escalation_payload()), settings=SETTINGS)
    second = escalate(
        store, request(later_event(escalation_payload(), "ev-2", "Still wrong!")), settings=SETTINGS
    )
    assert second.kind == "update"
    with store.transaction() as tx:
        note = tx.scalars(select(OutboxRow).where(OutboxRow.idempotency_key == second.id)).one()
    assert note.topic == "ticket.note"
    assert note.payload["previous_escalation_id"] == first.id


def _delivered(store: Store, view_id: str, status: str) -> None:
    with store.transaction() as tx:
        ticket = Ticket(
            source="fake",
            external_id="9",
            session_id="sess-1",
            tenant="acme",
            status=status,
            created_at=T0,
        )
        tx.add(ticket)
        tx.flush()
        row = tx.get(Escalation, view_id)
        assert row is not None
        row.state, row.ticket_id = "delivered", ticket.id


@pytest.mark.parametrize(
    ("status", "kind"),
    [("escalated", "update"), ("reopened", "update"), ("resolved", "create"), ("closed", "create")],
)
def test_kind_follows_the_mirrored_ticket(store: Store, status: str, kind: str) -> None:
    first = escalate(store, request(escalation_payload()), settings=SETTINGS)
    _delivered(store, first.id, status)
    second = escalate(
        store, request(later_event(escalation_payload(), "ev-2", "Again")), settings=SETTINGS
    )
    assert second.kind == kind
    assert get_escalation(store, first.id).ticket_id == "9"


def test_outbox_failure_leaves_no_escalation(store: Store) -> None:
    key = escalation_key("sess-1", "ev-1", "acme")
    with store.transaction() as tx:  # an outbox row squatting on the key makes the insert fail
        tx.add(
            OutboxRow(
                topic="other",
                aggregate_id="x",
                idempotency_key=key,
                payload={},
                state="done",
                attempts=0,
                next_attempt_at=T0,
                created_at=T0,
            )
        )
    with pytest.raises(StoreError, match=r"(?i)storing escalation .* failed: .*(unique|duplicate)"):
        escalate(store, request(escalation_payload()), settings=SETTINGS)
    assert rows(store) == (0, 1)


def test_get_escalation_unknown_id(store: Store) -> None:
    with pytest.raises(NotFound, match="no escalation 'nope'"):
        get_escalation(store, "nope")


def test_times_stay_zone_aware(store: Store) -> None:
    view = escalate(store, request(escalation_payload()), settings=SETTINGS)
    assert get_escalation(store, view.id).created_at.tzinfo is not None
    assert get_escalation(store, view.id).created_at.utcoffset() == dt.timedelta(0)


def test_tenant_required_when_multi_tenant(store: Store) -> None:
    payload = escalation_payload()
    del payload["tenant"]
    with pytest.raises(
        InvalidEscalation, match="tenant: required when CASELOOP_MULTI_TENANT is on"
    ):
        escalate(store, request(payload), settings=IngestionSettings(multi_tenant=True))
    assert rows(store) == (0, 0)
    assert escalate(store, request(payload), settings=SETTINGS).tenant == "default"
