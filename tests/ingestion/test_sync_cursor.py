"""The polling sync worker: (updated_at, id) cursor with >=, tuple skip, overlap, 429s,
the cursor committed with the page's effects, webhook-announced tickets re-read."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading

import pytest
from sqlalchemy import func, select

from ingestion import inbox
from ingestion.errors import StoreError
from ingestion.schema import OutgoingMessage, Ticket
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from ingestion.sync import SyncWorker, read_cursor
from ingestion.ticketing import NewTicket, RemoteComment
from tests.support.fake_ticketing import T0, FakeTicketing, mirror_ticket

SETTINGS = IngestionSettings(sync_page_size=5, sync_overlap_seconds=60)
SAME = T0 + dt.timedelta(hours=1)


def message_count(store: Store) -> int:
    with store.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(OutgoingMessage)) or 0)


def open_tickets(store: Store, fake: FakeTicketing, n: int) -> list[str]:
    ids = []
    for i in range(n):
        remote = fake.create_ticket(NewTicket(f"k{i}", f"sess-{i}", "acme", f"t{i}", "b"))
        mirror_ticket(store, "fake", remote.id, f"sess-{i}")
        ids.append(remote.id)
    return ids


def clock_at(when: dt.datetime):  # type: ignore[no-untyped-def]
    return lambda: when


def test_many_tickets_share_one_updated_at_across_pages(store: Store) -> None:
    fake = FakeTicketing()
    ids = open_tickets(store, fake, 23)
    fake.now = SAME  # every reply lands on the same instant, ids 1..23 (numeric order past 9)
    for ticket_id in ids:
        fake.comment(ticket_id, f"reply to {ticket_id}", public=True)
    worker = SyncWorker(store, fake, SETTINGS, clock=clock_at(SAME + dt.timedelta(seconds=30)))
    report = worker.poll_once()
    assert report.tickets_seen == 23
    assert report.messages == 23
    assert report.pages == 5  # 5 + 5 + 5 + 5 + 3, each page after the first asks for one more
    assert report.cursor is not None
    assert (report.cursor.updated_at, report.cursor.ticket_id) == (SAME, "23")
    assert report.cursor.updated_at.tzinfo is dt.UTC
    assert report.lag_seconds == 30.0
    assert message_count(store) == 23
    # The overlap re-reads the same tickets: nothing is doubled.
    again = worker.poll_once()
    assert again.tickets_seen == 23
    assert again.messages == 0
    assert message_count(store) == 23


def test_only_changes_since_overlap_are_reread(store: Store) -> None:
    fake = FakeTicketing()
    ids = open_tickets(store, fake, 3)
    fake.now = T0 + dt.timedelta(hours=2)
    fake.comment(ids[0], "early", public=True)
    worker = SyncWorker(store, fake, SETTINGS)
    worker.poll_once()
    fake.now = T0 + dt.timedelta(hours=3)
    fake.comment(ids[2], "late", public=True)
    report = worker.poll_once()
    assert report.tickets_seen == 2  # 1 (at the cursor: >=) and 3; 2 is behind the overlap
    assert report.messages == 1
    assert fake.calls.count("list_updated_since") == 2


def test_429_keeps_committed_pages_and_reports_retry_after(store: Store) -> None:
    fake = FakeTicketing()
    ids = open_tickets(store, fake, 8)
    fake.now = SAME
    for ticket_id in ids:
        fake.comment(ticket_id, "hi", public=True)
    worker = SyncWorker(store, fake, SETTINGS)
    real = fake.list_updated_since
    calls = iter(range(100))

    def flaky(since: dt.datetime, after_id: str | None, limit: int):  # type: ignore[no-untyped-def]
        if next(calls) == 1:
            fake.throttle(42.0)
        return real(since, after_id, limit)

    fake.list_updated_since = flaky  # type: ignore[method-assign]
    first = worker.poll_once()
    assert first.retry_after == 42.0
    assert first.messages == 5
    assert first.cursor is not None
    assert first.cursor.ticket_id == "5"
    second = worker.poll_once()
    assert second.retry_after is None
    assert message_count(store) == 8


def test_cursor_and_effects_commit_together(store: Store) -> None:
    fake = FakeTicketing()
    ids = open_tickets(store, fake, 2)
    fake.now = SAME
    fake.comment(ids[0], "fine", public=True)
    fake.now = SAME + dt.timedelta(seconds=1)
    broken = RemoteComment("999", None, "public", "a", "agent", SAME)  # type: ignore[arg-type]
    fake.tickets[ids[1]] = dataclasses.replace(
        fake.tickets[ids[1]], comments=(broken,), updated_at=SAME + dt.timedelta(seconds=1)
    )
    worker = SyncWorker(store, fake, SETTINGS)
    with pytest.raises(StoreError):
        worker.poll_once()  # the NOT NULL body fails the page's transaction
    assert read_cursor(store, "fake") is None
    assert message_count(store) == 0  # ticket 1's reply was in the same page: rolled back too


def test_webhook_announced_ticket_reread_on_next_poll(store: Store) -> None:
    fake = FakeTicketing()
    [ticket_id] = open_tickets(store, fake, 1)
    worker = SyncWorker(store, fake, SETTINGS)
    worker.poll_once()
    # A status change the listing cannot see (no new updated_at), announced by a webhook.
    remote = fake.tickets[ticket_id]
    fake.tickets[ticket_id] = dataclasses.replace(remote, status="resolved", raw_status="3")
    fake.tickets[ticket_id] = dataclasses.replace(
        fake.tickets[ticket_id], updated_at=T0 - dt.timedelta(days=1)
    )
    inbox.store_delivery(
        store, source="fake", delivery_id="w1", ticket_external_id=ticket_id, headers={}, body=b"{}"
    )
    fake.calls.clear()
    report = worker.poll_once()
    assert report.reconciled == 1
    assert "get_ticket" in fake.calls
    with store.transaction() as s:
        assert s.scalars(select(Ticket.status)).one() == "escalated"  # older time: not applied
    # Reconciling happens once per announcement window, not on every poll forever.
    fake.calls.clear()
    assert worker.poll_once().reconciled in (0, 1)


def test_run_waits_retry_after_then_interval(store: Store) -> None:
    fake = FakeTicketing()
    open_tickets(store, fake, 1)
    stop = threading.Event()
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            stop.set()

    fake.throttle(7.0)
    SyncWorker(store, fake, SETTINGS).run(stop, sleep=sleep)
    assert waits == [7.0, SETTINGS.sync_interval]


def test_run_survives_a_failed_poll(store: Store) -> None:
    fake = FakeTicketing()
    open_tickets(store, fake, 1)
    fake.failures.append(RuntimeError("adapter bug"))
    stop = threading.Event()
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            stop.set()

    SyncWorker(store, fake, SETTINGS).run(stop, sleep=sleep)
    assert waits == [SETTINGS.sync_interval, SETTINGS.sync_interval]
    assert read_cursor(store, "fake") is not None  # the second poll went through
