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


def test_erase_redacts_one_customers_text_now_whatever_its_age(store: Store) -> None:
    world = _seed(store)
    other = "karim.haddad@example.net"
    world.escalate("k1", f"Karim here, my login fails; mail {other}", customer={"email": other})
    world.escalate("d1", f"{NAME} again, call {PHONE}", customer={"email": EMAIL}, delivered=False)
    world.escalate("p1", f"Card {CARD} declined", customer={"email": EMAIL}, delivered=False)
    with store.transaction() as tx:  # the relay gave up on d1; p1 still waits for it
        tx.execute(update(Escalation).where(Escalation.session_id == "s-d1").values(state="dead"))
    before = _metrics(store)
    seeded = _where_seeded(store)
    assert {("escalations", "s-o1"), ("escalations", "s-d1"), ("escalations", "s-p1")} <= seeded

    dry = erase(store, SETTINGS, email=f"  {EMAIL.upper()} ", dry_run=True)
    assert (dry.tickets, dry.escalations, dry.waiting) == (2, 1, 1)
    assert _where_seeded(store) == seeded  # a dry run writes nothing
    assert "would purge 2 tickets and 1 undelivered escalations" in dry.line()
    assert "1 escalations awaiting delivery left" in dry.line()
    assert all(s not in dry.line() for s in SEEDED)

    done = erase(store, SETTINGS, email=EMAIL)
    assert (done.tickets, done.escalations, done.waiting, done.rows) == (2, 1, 1, dry.rows)
    # Only what the relay has not delivered yet still holds the customer's text.
    assert _where_seeded(store) == {("escalations", "s-p1")}
    with store.transaction() as tx:
        assert tx.scalars(select(Ticket.customer_email).where(Ticket.external_id == "k1")).one()
        assert tx.scalars(select(Ticket.status).where(Ticket.external_id == "o1")).one() == (
            "escalated"
        )
    assert _metrics(store) == before
    again = erase(store, SETTINGS, email=EMAIL)
    assert (again.tickets, again.escalations, dict(again.rows)) == (0, 0, {})


@pytest.mark.parametrize("email", ["", "lena", "lena@", "a b@example.org", "@example.org"])
def test_erase_wants_an_email_address(sqlite_store: Store, email: str) -> None:
    with pytest.raises(InvalidErasure, match="e-mail address"):
        erase(sqlite_store, SETTINGS, email=email)
