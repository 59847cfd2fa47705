"""Property: any sequence of escalations, duplicates, conflicts, faults, retries and resolutions
ends with every accepted escalation delivered exactly once and never two open tickets at once.

Runs on the in-memory ticketing fake (hundreds of sequences a run); each rule it checks is also
tested against the real django-helpdesk in test_relay_helpdesk.py and test_relay_kill.py.
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from ingestion import EscalationRequest, IdempotencyConflict, IngestionSettings, Relay, escalate
from ingestion.schema import Base, Escalation, Ticket
from ingestion.store import Store
from ingestion.ticket_body import marker
from tests.support.fake_ticketing import FakeClock, FakeTicketing, escalation_payload

SETTINGS = IngestionSettings(relay_max_attempts=100, relay_base_delay=1, relay_max_delay=20)

operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("escalate"),
            st.integers(0, 3),  # conversation
            st.integers(0, 3),  # event
            st.integers(0, 1),  # payload variant: 1 reuses a key with other content
        ),
        st.tuples(st.just("fault"), st.sampled_from(["down", "after", "retry_after:7"])),
        st.tuples(st.just("drain")),
        st.tuples(st.just("advance"), st.integers(1, 30)),
        st.tuples(st.just("resolve"), st.integers(0, 3)),
    ),
    max_size=40,
)


def empty(store: Store) -> None:
    with store.transaction() as tx:
        for table in reversed(Base.metadata.sorted_tables):
            tx.execute(delete(table))


def payload(conversation: int, event: int, variant: int) -> dict[str, Any]:
    p = escalation_payload(f"conv-{conversation}", f"ev-{event}")
    p["transcript"] = [
        *p["transcript"],
        {"role": "customer", "text": f"event {event}", "at": "2026-03-02T09:01:00Z"},
    ]
    if variant:
        p["reason"] = "conflict"
    return p


def resolve(store: Store, fake: FakeTicketing, conversation: int) -> None:
    """An agent resolves the conversation's ticket (the mirror learns it, as sync would)."""
    for ticket in fake.tickets.values():
        if ticket.conversation == f"conv-{conversation}" and ticket.status == "open":
            fake.set_status(ticket.id, "resolved")
            with store.transaction() as tx:
                for row in tx.scalars(select(Ticket).where(Ticket.external_id == ticket.id)):
                    row.status = "resolved"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=operations)
# Two faults after the ticket is created, then a second event of the same conversation while the
# first is still unconfirmed: once seen to deliver the first event twice on a merged branch.
@example(
    ops=[
        ("fault", "after"),
        ("fault", "after"),
        ("escalate", 1, 1, 0),
        ("drain",),
        ("advance", 1),
        ("escalate", 1, 0, 0),
        ("drain",),
        ("resolve", 1),
    ]
)
def test_exactly_once_whatever_happens(store: Store, ops: list[tuple[Any, ...]]) -> None:
    empty(store)
    clock, fake = FakeClock(), FakeTicketing()
    relay = Relay(store, fake, SETTINGS, clock=clock, sleep=clock.sleep, rng=random.Random(0))
    accepted: set[str] = set()
    resolutions = dict.fromkeys(range(4), 0)
    for op in ops:
        if op[0] == "escalate":
            try:
                view = escalate(
                    store,
                    EscalationRequest.model_validate(payload(*op[1:])),
                    settings=SETTINGS,
                    clock=clock,
                )
                accepted.add(view.id)
            except IdempotencyConflict:
                pass
        elif op[0] == "fault":
            fake.inject(op[1])
        elif op[0] == "drain":
            relay.drain()
        elif op[0] == "advance":
            clock.sleep(op[1])
        else:
            resolutions[op[1]] += 1
            resolve(store, fake, op[1])
        open_per_conversation: dict[str, int] = {}
        for ticket in fake.tickets.values():
            if ticket.status == "open":
                open_per_conversation[ticket.conversation] = (
                    open_per_conversation.get(ticket.conversation, 0) + 1
                )
        assert all(n == 1 for n in open_per_conversation.values()), "two open tickets"
    fake.faults.clear()
    relay.drain(wait=True)

    with store.transaction() as tx:
        states = {row.id: row.state for row in tx.scalars(select(Escalation))}
    assert set(states) == accepted
    assert set(states.values()) <= {"delivered"}
    texts = [t.body for t in fake.tickets.values()] + [
        c.body for t in fake.tickets.values() for c in t.comments
    ]
    for key in accepted:
        assert sum(marker(key) in text for text in texts) == 1, f"{key} not delivered exactly once"
    for conversation, count in fake.per_conversation().items():
        assert count <= 1 + resolutions[int(conversation.split("-")[1])]
