"""The relay against an in-memory ticketing system with scripted faults (same rules as helpdesk)."""

from __future__ import annotations

import datetime as dt
import random
import threading

from sqlalchemy import select

from ingestion import (
    EscalationRequest,
    IngestionSettings,
    Relay,
    RelayReport,
    escalate,
    get_escalation,
    outbox,
)
from ingestion.schema import OutboxRow, Ticket, TicketEvent
from ingestion.store import Store
from tests.support.fake_ticketing import FakeClock, FakeTicketing, escalation_payload, later_event

SETTINGS = IngestionSettings(relay_base_delay=1.0, relay_max_delay=60.0, relay_max_attempts=5)


def setup(
    store: Store, settings: IngestionSettings = SETTINGS
) -> tuple[Relay, FakeTicketing, FakeClock]:
    clock, fake = FakeClock(), FakeTicketing()
    relay = Relay(store, fake, settings, clock=clock, sleep=clock.sleep, rng=random.Random(1))
    return relay, fake, clock


def send(store: Store, clock: FakeClock, payload: dict[str, object]) -> str:
    return escalate(
        store, EscalationRequest.model_validate(payload), settings=SETTINGS, clock=clock
    ).id


def test_creates_ticket_and_mirror(store: Store) -> None:
    relay, fake, clock = setup(store)
    key = send(store, clock, escalation_payload())
    assert relay.drain() == RelayReport(delivered=1)
    [ticket] = fake.tickets.values()
    assert ticket.conversation == "acme/sess-1"  # qualified by its tenant (ingestion.tenancy)
    assert ticket.body.startswith("**Reason:** No evidence")
    assert ticket.payload["escalation_id"] == key
    assert ticket.payload["reason"] == "no_evidence"
    view = get_escalation(store, key)
    assert (view.state, view.ticket_id, view.ticket_url) == ("delivered", "1", "fake://tickets/1")
    assert fake.calls == ["create_ticket"]  # a fresh conversation needs no lookup
    with store.transaction() as tx:
        mirror = tx.scalars(select(Ticket)).one()
        event = tx.scalars(select(TicketEvent)).one()
    assert (mirror.source, mirror.session_id, mirror.status) == ("fake", "sess-1", "escalated")
    assert (event.from_status, event.to_status, event.cause) == (None, "escalated", "relay")


def test_new_event_on_open_ticket_adds_one_note(store: Store) -> None:
    relay, fake, clock = setup(store)
    first = escalation_payload()
    send(store, clock, first)
    second = send(
        store, clock, later_event(first, "ev-2", "Now it is three times!", reason="conflict")
    )
    assert relay.drain() == RelayReport(delivered=2)
    [ticket] = fake.tickets.values()
    [note] = ticket.comments
    assert note.visibility == "internal"
    assert "**Reason changed:** no_evidence → conflict" in note.body
    assert "Now it is three times!" in note.body
    assert "My invoice shows VAT twice." not in note.body  # only what changed
    assert get_escalation(store, second).ticket_id == ticket.id


def test_500_after_commit_is_adopted_not_duplicated(store: Store) -> None:
    relay, fake, clock = setup(store)
    key = send(store, clock, escalation_payload())
    fake.inject("after")
    assert relay.drain() == RelayReport(retried=1)
    assert get_escalation(store, key).last_error == "unavailable: 500 after commit"
    assert relay.drain(wait=True) == RelayReport(delivered=1)
    assert len(fake.tickets) == 1
    assert fake.calls == ["create_ticket", "find_by_conversation"]
    assert get_escalation(store, key).state == "delivered"


def test_note_after_commit_is_not_repeated(store: Store) -> None:
    relay, fake, clock = setup(store)
    send(store, clock, escalation_payload())
    relay.drain()
    send(store, clock, later_event(escalation_payload(), "ev-2", "More"))
    fake.inject("after")
    relay.drain(wait=True)
    [ticket] = fake.tickets.values()
    assert len(ticket.comments) == 1


def test_retry_after_is_honoured(store: Store) -> None:
    relay, fake, clock = setup(store)
    send(store, clock, escalation_payload())
    fake.inject("retry_after:120")
    relay.drain()
    with store.transaction() as tx:
        row = tx.scalars(select(OutboxRow)).one()
    assert row.next_attempt_at >= clock.now + dt.timedelta(seconds=120)
    clock.sleep(119)
    assert relay.drain() == RelayReport()
    clock.sleep(2)
    assert relay.drain() == RelayReport(delivered=1)


def test_permanent_rejection_is_dead_then_redriven(store: Store) -> None:
    relay, fake, clock = setup(store)
    key = send(store, clock, escalation_payload())
    fake.inject("rejected")
    assert relay.drain() == RelayReport(dead=1)
    view = get_escalation(store, key)
    assert view.state == "dead"
    assert view.last_error == "rejected: 400: title is required"
    [dead] = outbox.list_rows(store, ("dead",))
    assert dead.last_error == "rejected: 400: title is required (permanent error after 1 attempts)"
    assert outbox.redrive(store, now=clock()) == 1
    assert get_escalation(store, key).state == "pending"
    assert relay.drain() == RelayReport(delivered=1)
    assert get_escalation(store, key).state == "delivered"


def test_dead_after_max_attempts_with_backoff(store: Store) -> None:
    relay, fake, clock = setup(store)
    start = clock.now
    key = send(store, clock, escalation_payload())
    fake.inject(*["down"] * 5)
    assert relay.drain(wait=True) == RelayReport(retried=4, dead=1)
    waited = (clock.now - start).total_seconds()
    assert 0.5 + 1 + 2 + 4 <= waited <= 1 + 2 + 4 + 8 + 1  # jittered doubling, upper half
    assert get_escalation(store, key).last_error == "unavailable: connection refused"
    assert fake.tickets == {}


def test_dead_after_max_age(store: Store) -> None:
    settings = IngestionSettings(relay_max_age_seconds=30, relay_base_delay=20)
    relay, fake, clock = setup(store, settings)
    send(store, clock, escalation_payload())
    fake.inject("down", "down", "down")
    report = relay.drain(wait=True)
    assert report.dead == 1
    assert report.retried >= 1
    [dead] = outbox.list_rows(store, ("dead",))
    assert "too old" in (dead.last_error or "")


def test_note_never_overtakes_its_ticket(store: Store) -> None:
    relay, fake, clock = setup(store)
    send(store, clock, escalation_payload())
    send(store, clock, later_event(escalation_payload(), "ev-2", "Hello?"))
    fake.inject("down")
    assert relay.drain() == RelayReport(retried=1)  # the note was not even claimed
    assert relay.drain(wait=True) == RelayReport(delivered=2)
    [ticket] = fake.tickets.values()
    assert len(ticket.comments) == 1


def test_note_becomes_a_ticket_when_the_create_died(store: Store) -> None:
    relay, fake, clock = setup(store)
    send(store, clock, escalation_payload())
    second = send(store, clock, later_event(escalation_payload(), "ev-2", "Hello?"))
    fake.inject("rejected")
    assert relay.drain() == RelayReport(delivered=1, dead=1)
    [ticket] = fake.tickets.values()
    assert get_escalation(store, second).ticket_id == ticket.id


def test_closed_ticket_gets_a_new_ticket(store: Store) -> None:
    relay, fake, clock = setup(store)
    send(store, clock, escalation_payload())
    relay.drain()
    with store.transaction() as tx:
        tx.scalars(select(Ticket)).one().status = "resolved"
    fake.set_status("1", "resolved")
    send(store, clock, later_event(escalation_payload(), "ev-2", "It is back"))
    relay.drain()
    assert len(fake.tickets) == 2


def test_killed_relays_lease_expires(store: Store) -> None:
    relay, fake, clock = setup(store)
    send(store, clock, escalation_payload())
    outbox.claim(
        store, "killed", now=clock(), lease_seconds=60, limit=10, topics=("ticket.create",)
    )
    assert relay.drain() == RelayReport()
    clock.sleep(61)
    assert relay.drain() == RelayReport(delivered=1)
    assert len(fake.tickets) == 1


def test_run_stops_on_event(store: Store) -> None:
    settings = IngestionSettings(relay_poll_interval=0.01)
    fake = FakeTicketing()
    relay = Relay(store, fake, settings)
    stop = threading.Event()
    worker = threading.Thread(target=relay.run, args=(stop,))
    worker.start()
    key = escalate(
        store, EscalationRequest.model_validate(escalation_payload()), settings=settings
    ).id
    for _ in range(3000):  # up to 30 s on a loaded machine
        if get_escalation(store, key).state == "delivered":
            break
        stop.wait(0.01)
    stop.set()
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert get_escalation(store, key).state == "delivered"


def test_ticket_closed_before_the_retry_is_still_adopted(store: Store) -> None:
    relay, fake, clock = setup(store)
    key = send(store, clock, escalation_payload())
    fake.inject("after")
    relay.drain()
    fake.set_status("1", "resolved")  # an agent closed it before the relay retried
    relay.drain(wait=True)
    assert len(fake.tickets) == 1
    assert get_escalation(store, key).ticket_id == "1"
    with store.transaction() as tx:
        assert tx.scalars(select(Ticket)).one().status == "resolved"


def test_ticket_mirrored_by_a_webhook_during_a_lost_create_is_adopted(store: Store) -> None:
    relay, fake, clock = setup(store)
    key = send(store, clock, escalation_payload())
    fake.inject("after")
    assert relay.drain() == RelayReport(retried=1)
    with store.transaction() as tx:  # the new-ticket webhook mirrored ticket 1 meanwhile
        tx.add(
            Ticket(
                source="fake",
                external_id="1",
                session_id="sess-1",
                tenant="acme",
                status="escalated",
                created_at=clock.now,
            )
        )
    assert relay.drain(wait=True) == RelayReport(delivered=1)
    assert fake.tickets["1"].comments == ()  # no note on its own ticket
    with store.transaction() as tx:
        assert len(tx.scalars(select(Ticket)).all()) == 1
    assert get_escalation(store, key).ticket_id == "1"


def test_later_event_on_a_linked_ticket_gets_a_note(store: Store) -> None:
    relay, fake, clock = setup(store)
    send(store, clock, escalation_payload())
    relay.drain()
    key = send(store, clock, later_event(escalation_payload(), "ev-2", "More"))
    assert relay.drain() == RelayReport(delivered=1)
    assert len(fake.tickets["1"].comments) == 1
    assert get_escalation(store, key).ticket_id == "1"


def test_row_whose_lease_was_taken_over_is_left_alone(store: Store) -> None:
    relay, fake, clock = setup(store)
    send(store, clock, escalation_payload())
    [item] = outbox.claim(
        store, relay.owner, now=clock(), lease_seconds=60, limit=5, topics=("ticket.create",)
    )
    clock.sleep(61)  # the batch took too long: the lease expired and another relay claimed it
    outbox.claim(store, "other", now=clock(), lease_seconds=60, limit=5, topics=("ticket.create",))
    assert relay.process(item) == RelayReport()
    assert fake.calls == []


def test_the_relays_notes_are_mirrored_as_the_bots(store: Store) -> None:
    from ingestion.applier import apply_snapshot
    from ingestion.schema import OutgoingMessage, TicketComment

    relay, fake, clock = setup(store)
    send(store, clock, escalation_payload())
    send(store, clock, later_event(escalation_payload(), "ev-2", "Still waiting"))
    assert relay.drain() == RelayReport(delivered=2)
    [note] = fake.tickets["1"].comments
    with store.transaction() as tx:
        mirrored = tx.scalars(select(TicketComment)).one()
    assert (mirrored.external_id, mirrored.author_role, mirrored.visibility) == (
        note.id,
        "bot",
        "internal",
    )
    # The next snapshot (a webhook, a poll) finds the note known: still the bot's, never sent.
    result = apply_snapshot(store, "fake", fake.get_ticket("1"), cause="webhook", settings=SETTINGS)
    assert (result.comments_mirrored, result.messages) == (0, ())
    with store.transaction() as tx:
        assert tx.scalars(select(TicketComment.author_role)).all() == ["bot"]
        assert tx.scalars(select(OutgoingMessage)).all() == []
