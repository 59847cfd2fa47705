"""The inbox worker: hints re-read through the adapter, duplicates coalesced, 429s deferred,
replay re-drives stored deliveries, purge keeps ids for the dedupe window only."""

from __future__ import annotations

import datetime as dt
import threading

from sqlalchemy import select

from ingestion import inbox
from ingestion.inbox import InboxReport, InboxWorker
from ingestion.schema import OutgoingMessage, TicketEvent, WebhookDelivery
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from tests.support.fake_ticketing import FakeClock, FakeTicketing, mirror_ticket

SETTINGS = IngestionSettings(relay_max_attempts=3)
NOW = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)


def deliver(
    store: Store,
    delivery_id: str,
    ticket_id: str | None,
    source: str = "fake",
    *,
    now: dt.datetime | None = None,
) -> str:
    return inbox.store_delivery(
        store,
        source=source,
        delivery_id=delivery_id,
        ticket_external_id=ticket_id,
        headers={"webhook-id": delivery_id},
        body=b"{}",
        now=now,
    )


def states(store: Store) -> dict[str, str]:
    with store.transaction() as s:
        return {d.delivery_id: d.state for d in s.scalars(select(WebhookDelivery))}


def bodies(store: Store) -> list[str]:
    with store.transaction() as s:
        return list(s.scalars(select(OutgoingMessage.body).order_by(OutgoingMessage.seq)))


def setup(store: Store) -> FakeTicketing:
    from ingestion.ticketing import NewTicket

    fake = FakeTicketing()
    created = fake.create_ticket(NewTicket("k", "sess-1", "acme", "printer", "on fire"))
    mirror_ticket(store, "fake", created.id, "sess-1")
    fake.comment(created.id, "Have you tried turning it off?", public=True)
    fake.comment(created.id, "customer is grumpy", public=False)
    fake.calls.clear()
    return fake


def test_hints_reread_and_coalesced(store: Store) -> None:
    fake = setup(store)
    assert deliver(store, "d1", "1") == "stored"
    assert deliver(store, "d2", "1") == "stored"
    assert deliver(store, "d1", "1") == "duplicate"
    report = InboxWorker(store, fake, SETTINGS).process_pending()
    assert (report.processed, report.messages, report.failed) == (2, 1, 0)
    assert fake.calls == ["get_ticket"]  # one re-read for two deliveries of one ticket
    assert states(store) == {"d1": "processed", "d2": "processed"}
    assert bodies(store) == ["Have you tried turning it off?"]
    # Nothing left to do; a second round reads nothing.
    assert InboxWorker(store, fake, SETTINGS).process_pending().processed == 0
    assert fake.calls == ["get_ticket"]


def test_unknown_ticket_and_foreign_source(store: Store) -> None:
    fake = setup(store)
    fake.tickets["9"] = fake.tickets["1"].__class__(
        id="9", status="open", raw_status="1", title="not ours"
    )
    deliver(store, "a", "9")
    deliver(store, "b", "1", source="rt")  # this worker's adapter is not RT's
    report = InboxWorker(store, fake, SETTINGS).process_pending()
    assert (report.processed, report.unknown_tickets, report.failed) == (1, 1, 1)
    assert states(store) == {"a": "processed", "b": "failed"}
    assert bodies(store) == []


def test_429_defers_then_fails_after_max_attempts(store: Store) -> None:
    fake = setup(store)
    deliver(store, "d1", "1")
    clock = FakeClock(dt.datetime.now(dt.UTC))
    worker = InboxWorker(store, fake, SETTINGS, clock=clock)
    fake.throttle(12.0)
    report = worker.process_pending()
    assert (report.deferred, report.retry_after) == (1, 12.0)
    assert states(store) == {"d1": "pending"}
    assert worker.process_pending() == InboxReport()  # not before the Retry-After
    clock.sleep(12)
    assert worker.process_pending().messages == 1  # the system is back
    deliver(store, "d2", "1")
    for _ in range(3):
        fake.throttle(1.0)
        worker.process_pending()
        clock.sleep(60)  # past the backoff
    assert states(store)["d2"] == "failed"


def test_rejected_reread_fails_the_delivery(store: Store) -> None:
    fake = setup(store)
    deliver(store, "gone", "404")
    assert InboxWorker(store, fake, SETTINGS).process_pending().failed == 1
    with store.transaction() as s:
        row = s.scalars(select(WebhookDelivery)).one()
        assert row.last_error is not None
        assert "404" in row.last_error


def test_replay_redrives_through_the_same_path(store: Store) -> None:
    fake = setup(store)
    deliver(store, "d1", "1")
    InboxWorker(store, fake, SETTINGS).process_pending()
    fake.set_status("1", "resolved")
    assert inbox.replay(store, source="fake") == 1
    report = InboxWorker(store, fake, SETTINGS, cause="replay").process_pending()
    assert report.processed == 1
    assert bodies(store) == ["Have you tried turning it off?"]  # still once
    with store.transaction() as s:
        causes = list(s.scalars(select(TicketEvent.cause)))
    assert causes == ["replay"]
    assert inbox.replay(store, delivery_ids=["nope"]) == 0


def test_purge_keeps_pending_and_recent(store: Store) -> None:
    fake = setup(store)
    deliver(store, "old", "1", now=NOW - dt.timedelta(days=8))
    InboxWorker(store, fake, SETTINGS).process_pending()
    deliver(store, "old-pending", "1", now=NOW - dt.timedelta(days=9))  # worker never got to it
    deliver(store, "recent", "1", now=NOW - dt.timedelta(days=6))
    with store.transaction() as s:
        s.query(WebhookDelivery).filter_by(delivery_id="recent").update({"state": "processed"})
    assert inbox.purge(store, keep_days=7, now=NOW) == 1
    assert states(store) == {"old-pending": "pending", "recent": "processed"}
    # Within the window the id still dedupes.
    assert deliver(store, "recent", "1") == "duplicate"
    assert deliver(store, "old", "1") == "stored"


def test_run_stops_and_purges(store: Store) -> None:
    fake = setup(store)
    deliver(store, "d1", "1")
    stop = threading.Event()
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        stop.set()

    InboxWorker(store, fake, SETTINGS).run(stop, sleep=sleep)
    assert states(store) == {"d1": "processed"}
    assert waits == [SETTINGS.inbox_poll_interval]


def test_adapter_bug_defers_instead_of_killing_the_worker(store: Store) -> None:
    fake = setup(store)
    deliver(store, "d1", "1")
    fake.failures.append(RuntimeError("adapter bug"))
    report = InboxWorker(store, fake, SETTINGS).process_pending()
    assert (report.deferred, report.processed) == (1, 0)
    with store.transaction() as s:
        row = s.scalars(select(WebhookDelivery)).one()
        assert (row.state, row.attempts, row.last_error) == (
            "pending",
            1,
            "RuntimeError: adapter bug",
        )
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=SETTINGS.relay_base_delay)
    assert InboxWorker(store, fake, SETTINGS, clock=lambda: later).process_pending().messages == 1


def test_a_claimed_delivery_is_left_to_its_worker_until_the_lease_expires(store: Store) -> None:
    from ingestion import queue
    from ingestion.inbox import INBOX

    fake = setup(store)
    deliver(store, "d1", "1")
    now = dt.datetime.now(dt.UTC)
    claimed = queue.claim(store, INBOX, "other", now=now, lease_seconds=60, limit=9, view=id)
    assert len(claimed) == 1
    assert InboxWorker(store, fake, SETTINGS, clock=lambda: now).process_pending() == InboxReport()
    assert fake.calls == []  # no second re-read while the other worker holds the lease
    later = now + dt.timedelta(seconds=61)  # that worker died: its lease ran out
    assert InboxWorker(store, fake, SETTINGS, clock=lambda: later).process_pending().messages == 1
    assert states(store) == {"d1": "processed"}
