"""Retention (`ingestion.cases.retention.purge`) on SQLite and PostgreSQL: after the purge no raw
personal data remains in any text column of any table, evaluation's online metrics still
compute the same, and a second purge changes nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import JSON, LargeBinary, String, Text, select, update

from evaluation.online import online_metrics
from ingestion.cases import learn, run_learning
from ingestion.cases.retention import erase, purge
from ingestion.clock import utcnow
from ingestion.errors import InvalidErasure
from ingestion.escalations import EscalationRequest, escalate
from ingestion.schema import (
    Base,
    CaseSummary,
    Escalation,
    FlowRun,
    OutboxRow,
    Ticket,
    TicketEvent,
    WebhookDelivery,
)
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from tests.ingestion.cases.counting import CountingIndex
from tests.ingestion.cases.world import T0, World

SETTINGS = IngestionSettings(learning_ner=False, retention_raw_days=30)
NAME, EMAIL = "Lena Fischer", "lena.fischer@example.org"
PHONE, CARD = "+44 20 7946 0958", "4111 1111 1111 1111"
SEEDED = (NAME, EMAIL, PHONE, CARD, "Fischer", "7946 0958")
LATER = utcnow() + dt.timedelta(days=31)


def _seed(store: Store) -> World:
    world = World(store, SETTINGS)
    world.escalate(
        "r1",
        f"I am {NAME}, card {CARD} was charged twice; call me on {PHONE}",
        summary=f"{NAME} was charged twice on card {CARD}",
        customer={"name": NAME, "email": EMAIL},
    )
    world.comment("r1", f"Still waiting, write to {EMAIL}", role="customer")
    world.resolve("r1", f"Hi {NAME}, we refunded card {CARD}; a receipt goes to {EMAIL}.")
    world.escalate("o1", f"Export fails for {EMAIL}", customer={"email": EMAIL})  # still open
    with store.transaction() as tx:
        session = tx.scalars(select(Ticket.session_id).where(Ticket.external_id == "r1")).one()
        tx.add(
            OutboxRow(
                topic="ticket.note",
                aggregate_id=session,
                idempotency_key="retention-test-note",
                payload={"escalation_id": "x", "transcript": [{"role": "customer", "text": PHONE}]},
                state="done",
                next_attempt_at=T0,
                created_at=T0,
            )
        )
        tx.add(
            WebhookDelivery(
                source="sim",
                delivery_id="d1",
                ticket_external_id="r1",
                headers={"x-from": EMAIL},
                body=f'{{"comment": "{CARD}"}}'.encode(),
                state="processed",
                next_attempt_at=T0,
                received_at=T0,
            )
        )
    return world


def _raw_values(store: Store, *, skip_ticket: str | None = None) -> list[str]:
    """Every seeded value found in any text, JSON or binary column of any table."""
    found = []
    with store.transaction() as tx:
        open_id = tx.scalar(select(Ticket.id).where(Ticket.external_id == skip_ticket))
        for table in Base.metadata.sorted_tables:
            columns = [
                c
                for c in table.columns
                if isinstance(c.type, (String, Text, JSON, LargeBinary))
                or getattr(c.type, "impl", None).__class__ in (JSON, LargeBinary)
            ]
            for row in tx.execute(select(table)).mappings():
                if open_id is not None and open_id in (row.get("ticket_id"), row.get("id")):
                    continue
                if table.name == "escalations" and row["session_id"] == "s-o1":
                    continue
                for column in columns:
                    value = row[column.name]
                    text = value.decode() if isinstance(value, bytes) else str(value)
                    found += [f"{table.name}.{column.name}: {s}" for s in SEEDED if s in text]
    return found


def _metrics(store: Store) -> dict[str, object]:
    url = store.engine.url.render_as_string(hide_password=False)
    report = online_metrics(url, T0 - dt.timedelta(days=1), LATER)
    result = report.as_dict()
    result["content_gaps"] = len(result["content_gaps"])  # the clusters' sample texts are redacted
    return result


def test_purge_leaves_no_raw_text_and_evaluation_still_computes(store: Store) -> None:
    _seed(store)
    assert _raw_values(store, skip_ticket="o1")  # the seed really holds the raw data
    before = _metrics(store)
    assert before["escalations"] == 2
    assert before["tickets"]
    dry = purge(store, SETTINGS, now=LATER, dry_run=True)
    assert dry.tickets == 1
    assert _raw_values(store, skip_ticket="o1")  # a dry run writes nothing
    assert "would purge 1 tickets" in dry.line()
    assert all(s not in dry.line() for s in SEEDED)

    done = purge(store, SETTINGS, now=LATER)
    assert done.rows == dry.rows
    assert {"escalations", "ticket_comments", "outgoing_messages", "tickets", "outbox"} <= set(
        done.rows
    )
    assert done.rows["webhook_deliveries"] == 1
    assert _raw_values(store, skip_ticket="o1") == []
    with store.transaction() as tx:  # the open ticket's text is still there: not resolved
        assert tx.scalars(select(Ticket.customer_email).where(Ticket.external_id == "o1")).one()
    assert _metrics(store) == before

    again = purge(store, SETTINGS, now=LATER + dt.timedelta(days=1))
    assert (again.tickets, dict(again.rows)) == (0, {})


def test_nothing_is_purged_before_the_retention_period_or_when_it_is_off(store: Store) -> None:
    _seed(store)
    assert purge(store, SETTINGS).tickets == 0  # resolved just now: kept for 30 days
    off = IngestionSettings(learning_ner=False, retention_raw_days=0)
    assert purge(store, off, now=LATER).tickets == 0
    assert _raw_values(store, skip_ticket="o1")


def test_learning_after_the_purge_changes_no_case(store: Store, index: CountingIndex) -> None:
    _seed(store)
    first = learn(store, None, index, SETTINGS)
    assert [o.case_id for o in first.created] == ["sim:r1"]
    with store.transaction() as tx:
        learned = tx.scalars(select(CaseSummary.content_hash)).one()
    assert purge(store, SETTINGS, now=LATER).tickets == 1
    again = learn(store, None, index, SETTINGS, since=None)
    assert (again.created, again.updated, again.retracted, again.failed) == ([], [], [], [])
    with store.transaction() as tx:
        assert tx.scalars(select(CaseSummary.content_hash)).one() == learned


def test_run_learning_purges_and_records_the_counts(store: Store, index: CountingIndex) -> None:
    _seed(store)
    with store.transaction() as tx:  # resolved long ago
        tx.execute(update(TicketEvent).values(recorded_at=T0))
    run_learning(store, None, index, SETTINGS)
    with store.transaction() as tx:
        run = tx.scalars(select(FlowRun)).one()
    assert run.report["retention"]["tickets"] == 1
    assert run.report["retention"]["rows"]["ticket_comments"] >= 2
    assert _raw_values(store, skip_ticket="o1") == []


def _where_seeded(store: Store) -> set[tuple[str, str | None]]:
    """(table, session) of every row still holding a seeded value (session None: no such column)."""
    found = set()
    with store.transaction() as tx:
        for table in Base.metadata.sorted_tables:
            for row in tx.execute(select(table)).mappings():
                text = " ".join(
                    v.decode(errors="replace") if isinstance(v, bytes) else str(v)
                    for v in row.values()
                )
                if any(s in text for s in SEEDED):
                    found.add((table.name, row.get("session_id") or row.get("aggregate_id")))
    return found


def _seed_one_customer(store: Store) -> World:
    """`_seed`'s customer, plus what erasure must find or leave: another customer, a dead and a
    pending escalation, a ticket stored with her address in other case and spaces, and an
    anonymous chat's ticket she gave her address to only in a later escalation (a note)."""
    world = _seed(store)
    other = "karim.haddad@example.net"
    world.escalate("k1", f"Karim here, my login fails; mail {other}", customer={"email": other})
    world.escalate("d1", f"{NAME} again, call {PHONE}", customer={"email": EMAIL}, delivered=False)
    world.escalate("p1", f"Card {CARD} declined", customer={"email": EMAIL}, delivered=False)
    world.escalate("m1", f"Fischer here, invoice for card {CARD}")
    world.resolve("m1", "Invoice corrected.")
    world.escalate("a1", f"Refund to card {CARD} please", customer={})  # anonymous at first
    world.resolve("a1", "Refund sent.")
    later = EscalationRequest.model_validate(
        {
            "session_id": "s-a1",
            "escalation_event_id": "e2",
            "tenant": "acme",
            "customer": {"name": NAME, "email": EMAIL},
            "transcript": [
                {"role": "customer", "text": f"It is {NAME}, call {PHONE}", "at": T0.isoformat()}
            ],
            "reason": "low_confidence",
        }
    )
    escalated = escalate(store, later, settings=SETTINGS, clock=lambda: T0)
    with store.transaction() as tx:
        a1 = tx.scalars(select(Ticket.id).where(Ticket.external_id == "a1")).one()
        tx.execute(  # the relay added it to a1 as a note; a1 still has no customer e-mail
            update(Escalation)
            .where(Escalation.id == escalated.id)
            .values(ticket_id=a1, state="delivered")
        )
        tx.execute(update(Escalation).where(Escalation.session_id == "s-d1").values(state="dead"))
        tx.execute(
            update(Ticket)
            .where(Ticket.external_id == "m1")
            .values(customer_email=f"  {EMAIL.upper()} ")  # as an adapter may store it
        )
    return world


def test_erase_redacts_one_customers_text_now_whatever_its_age(store: Store) -> None:
    world = _seed_one_customer(store)
    before = _metrics(store)
    seeded = _where_seeded(store)
    assert {("tickets", f"s-{key}") for key in ("r1", "o1", "m1", "a1")} <= seeded
    assert {("escalations", f"s-{key}") for key in ("o1", "d1", "p1", "a1")} <= seeded

    dry = erase(store, SETTINGS, email=f"  {EMAIL.upper()} ", dry_run=True)
    assert (dry.tickets, dry.escalations, dry.open, dry.waiting) == (3, 1, 1, 1)
    assert _where_seeded(store) == seeded  # a dry run writes nothing
    assert dry.line().startswith("erasure: would purge 3 tickets and 1 undelivered escalations (")
    assert dry.line().endswith(
        "; left: 1 open tickets, 1 escalations awaiting delivery (erase again once resolved)"
    )
    assert all(s not in dry.line() for s in SEEDED)

    done = erase(store, SETTINGS, email=EMAIL)
    assert (done.tickets, done.escalations, done.open, done.waiting) == (3, 1, 1, 1)
    assert done.rows == dry.rows
    # What is left holds her text only where the conversation goes on: her open ticket (o1)
    # and the escalation the relay has yet to deliver (p1). ("ticket_comments", None) is k1's.
    left = _where_seeded(store) - {("ticket_comments", None)}
    assert left <= {("tickets", "s-o1"), ("escalations", "s-o1"), ("escalations", "s-p1")}
    assert ("escalations", "s-p1") in left
    with store.transaction() as tx:
        assert tx.scalars(select(Ticket.customer_email).where(Ticket.external_id == "k1")).one()
        assert tx.scalars(select(Ticket.customer_email).where(Ticket.external_id == "o1")).one()
    assert _metrics(store) == before

    world.resolve("o1", "Export fixed.")  # once resolved, erasing again finds it
    again = erase(store, SETTINGS, email=EMAIL)
    assert (again.tickets, again.escalations, again.open, again.waiting) == (1, 0, 0, 1)
    assert _where_seeded(store) - {("ticket_comments", None)} == {("escalations", "s-p1")}


@pytest.mark.parametrize("email", ["", "lena", "lena@", "a b@example.org", "@example.org"])
def test_erase_wants_an_email_address(sqlite_store: Store, email: str) -> None:
    with pytest.raises(InvalidErasure, match="e-mail address"):
        erase(sqlite_store, SETTINGS, email=email)
