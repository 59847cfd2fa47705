"""Outbox claiming, leases, order per conversation, backoff, dead letters, re-driving stuck rows
and the health figure."""

from __future__ import annotations

import datetime as dt
import random
import threading

import pytest
from sqlalchemy import select

from ingestion import outbox
from ingestion.outbox import RetryPolicy
from ingestion.schema import OutboxRow
from ingestion.store import Store, open_store
from tests.ingestion.cases.world import T0 as WORLD_T0
from tests.ingestion.cases.world import World
from tests.support.fake_ticketing import T0

TOPICS = ("ticket.create", "ticket.note")


def add(
    store: Store, aggregate: str, key: str, *, topic: str = "ticket.create", at: dt.datetime = T0
) -> None:
    with store.transaction() as tx:
        tx.add(
            OutboxRow(
                topic=topic,
                aggregate_id=aggregate,
                idempotency_key=key,
                payload={"k": key},
                state="pending",
                attempts=0,
                next_attempt_at=at,
                created_at=at,
            )
        )


def claim(store: Store, owner: str = "r1", now: dt.datetime = T0, limit: int = 10) -> list[str]:
    items = outbox.claim(store, owner, now=now, lease_seconds=30, limit=limit, topics=TOPICS)
    return [item.idempotency_key for item in items]


def test_one_row_per_conversation_oldest_first(store: Store) -> None:
    for aggregate, key in [("a", "a1"), ("b", "b1"), ("a", "a2"), ("c", "c1"), ("b", "b2")]:
        add(store, aggregate, key)
    assert claim(store) == ["a1", "b1", "c1"]
    assert claim(store, "r2") == []  # leased heads block their followers


def test_claim_counts_attempts_and_leases(store: Store) -> None:
    add(store, "a", "a1")
    [item] = outbox.claim(store, "r1", now=T0, lease_seconds=30, limit=10, topics=TOPICS)
    assert item.attempts == 1
    assert claim(store, "r2", T0 + dt.timedelta(seconds=29)) == []
    later = outbox.claim(
        store, "r2", now=T0 + dt.timedelta(seconds=31), lease_seconds=30, limit=10, topics=TOPICS
    )
    assert [i.attempts for i in later] == [2]


def test_other_topics_and_future_rows_are_not_claimed(store: Store) -> None:
    add(store, "a", "a1", topic="message.push")
    add(store, "b", "b1", at=T0 + dt.timedelta(minutes=1))
    assert claim(store) == []
    assert claim(store, now=T0 + dt.timedelta(minutes=1)) == ["b1"]


def test_completed_head_unblocks_the_next(store: Store) -> None:
    add(store, "a", "a1")
    add(store, "a", "a2")
    [item] = outbox.claim(store, "r1", now=T0, lease_seconds=30, limit=10, topics=TOPICS)
    with store.transaction() as tx:
        assert outbox.complete(tx, item, now=T0)
    with store.transaction() as tx:
        assert not outbox.complete(tx, item, now=T0)  # already done
    assert claim(store) == ["a2"]


def test_release_gives_back_the_lease_and_the_attempt(store: Store) -> None:
    add(store, "a", "a1")
    items = outbox.claim(store, "r1", now=T0, lease_seconds=30, limit=10, topics=TOPICS)
    outbox.release(store, items)
    [again] = outbox.claim(store, "r2", now=T0, lease_seconds=30, limit=10, topics=TOPICS)
    assert again.attempts == 1


def test_fail_schedules_retry_then_dead_letters(store: Store) -> None:
    policy = RetryPolicy(
        max_attempts=2, max_age=dt.timedelta(hours=1), base_delay=10, max_delay=100
    )
    add(store, "a", "a1")
    [item] = outbox.claim(store, "r1", now=T0, lease_seconds=30, limit=10, topics=TOPICS)
    with store.transaction() as tx:
        assert (
            outbox.fail(tx, item, error="boom", now=T0, policy=policy, rng=random.Random(0))
            == "retry"
        )
    assert outbox.next_due(store, topics=TOPICS) is not None
    due = outbox.next_due(store, topics=TOPICS)
    assert due is not None
    assert T0 + dt.timedelta(seconds=5) <= due <= T0 + dt.timedelta(seconds=10)
    [item] = outbox.claim(store, "r1", now=due, lease_seconds=30, limit=10, topics=TOPICS)
    with store.transaction() as tx:
        assert (
            outbox.fail(tx, item, error="boom again", now=due, policy=policy, rng=random.Random(0))
            == "dead"
        )
    [dead] = outbox.list_rows(store, ("dead",))
    assert dead.last_error == "boom again (out of attempts after 2 attempts)"
    assert outbox.counts(store) == {"dead": 1}
    assert outbox.next_due(store, topics=TOPICS) is None


def test_backoff_doubles_with_jitter_and_honours_retry_after() -> None:
    policy = RetryPolicy(max_attempts=9, max_age=dt.timedelta(days=1), base_delay=1, max_delay=30)
    rng = random.Random(7)
    for attempt, ceiling in [(1, 1), (2, 2), (3, 4), (5, 16), (6, 30), (9, 30)]:
        delays = [policy.delay(attempt, rng) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered
    assert policy.delay(1, rng, retry_after=120) == 120


def test_redrive_selected_dead_rows(store: Store) -> None:
    policy = RetryPolicy(max_attempts=1, max_age=dt.timedelta(hours=1), base_delay=1, max_delay=1)
    for key in ("a1", "b1"):
        add(store, key[0], key)
    for item in outbox.claim(store, "r1", now=T0, lease_seconds=30, limit=10, topics=TOPICS):
        with store.transaction() as tx:
            outbox.fail(tx, item, error="x", now=T0, policy=policy, rng=random.Random(0))
    [first, _] = outbox.list_rows(store, ("dead",))
    assert outbox.redrive(store, [first.id], now=T0) == 1
    assert outbox.counts(store) == {"dead": 1, "pending": 1}
    assert claim(store) == ["a1"]


def test_oldest_pending_age(store: Store) -> None:
    assert outbox.oldest_pending_age(store, now=T0) is None
    add(store, "a", "a1", at=T0)
    add(store, "b", "b1", at=T0 + dt.timedelta(seconds=30))
    assert outbox.oldest_pending_age(store, now=T0 + dt.timedelta(seconds=90)) == 90.0


@pytest.mark.postgres
def test_concurrent_relays_never_share_a_row(postgres_store: Store, postgres_url: str) -> None:
    for n in range(200):
        add(postgres_store, f"conv-{n % 120}", f"k{n}")
    claimed: list[list[str]] = []
    stores = [open_store(postgres_url, migrate=False) for _ in range(4)]

    def work(store: Store, name: str) -> None:
        mine: list[str] = []
        for _ in range(40):
            items = outbox.claim(store, name, now=T0, lease_seconds=30, limit=7, topics=TOPICS)
            mine += [i.idempotency_key for i in items]
            with store.transaction() as tx:
                for item in items:
                    outbox.complete(tx, item, now=T0)
        claimed.append(mine)

    threads = [threading.Thread(target=work, args=(s, f"r{i}")) for i, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.dispose()
    everything = [key for mine in claimed for key in mine]
    assert sorted(everything) == sorted(f"k{n}" for n in range(200))  # each exactly once
    assert sum(1 for mine in claimed if mine) >= 2  # the work was really shared


def test_other_topics_do_not_block_an_aggregate(store: Store) -> None:
    add(store, "a", "push-1", topic="message.push")
    add(store, "a", "a1")
    assert claim(store) == ["a1"]


def test_renew_only_while_the_lease_is_held(store: Store) -> None:
    add(store, "a", "a1")
    [item] = outbox.claim(store, "r1", now=T0, lease_seconds=30, limit=10, topics=TOPICS)
    assert outbox.renew(store, item, "r1", now=T0 + dt.timedelta(seconds=20), lease_seconds=30)
    assert claim(store, "r2", T0 + dt.timedelta(seconds=40)) == []  # renewed until 50 s
    assert claim(store, "r2", T0 + dt.timedelta(seconds=51)) == ["a1"]
    assert not outbox.renew(store, item, "r1", now=T0 + dt.timedelta(seconds=52), lease_seconds=30)


def test_stuck_rows_are_found_and_made_due(store: Store) -> None:
    world = World(store)
    world.escalate("1", "Question one")
    now = WORLD_T0 + dt.timedelta(hours=2)
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
                created_at=WORLD_T0,
            )
        )
        rows = {r.idempotency_key: r.id for r in tx.scalars(select(OutboxRow))}
        for row in tx.scalars(select(OutboxRow).where(OutboxRow.idempotency_key != "k-leased")):
            row.next_attempt_at = now + dt.timedelta(days=1)
    stuck = outbox.stuck_outbox(store, now=now, older_than=900)
    assert stuck == [i for k, i in rows.items() if k != "k-leased"]
    assert outbox.stuck_outbox(store, now=WORLD_T0 + dt.timedelta(minutes=5), older_than=900) == []
    assert outbox.redrive_stuck(store, stuck, now=now) == 1
    with store.transaction() as tx:
        row = tx.get_one(OutboxRow, stuck[0])
        assert row.next_attempt_at == now
        assert row.lease_owner is None
