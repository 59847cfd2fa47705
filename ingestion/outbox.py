"""The transactional outbox: claiming work with leases, retrying, dead-lettering, re-driving.

Rows are written with `enqueue` inside the transaction of the change that asks for them:
`ingestion.escalations.escalate` (topics `TOPIC_CREATE`, `TOPIC_NOTE`) and the update applier
(`TOPIC_BOT_NOTE`, the optional "forwarded" note).
A relay *claims* rows by giving them a lease (``lease_owner``, ``lease_expires_at``) and counting
the attempt; a row whose lease has expired (its relay was killed) is claimable again.

* SQLite: every store transaction starts with ``BEGIN IMMEDIATE``, so claims are serialised; one
  relay per database file is the intended set-up.
* PostgreSQL: the claim selects with ``FOR UPDATE SKIP LOCKED``, so any number of relays share the
  work without waiting on each other.

Ordering: only the oldest pending row of an aggregate (a conversation) is claimable, so a bot
note never overtakes the creation of its ticket, and a failing head row holds back the rest of
its conversation (only) until it is delivered or dead.

Retries back off exponentially with jitter (``base · 2^(attempt-1)``, capped, drawn from its upper
half) and never earlier than a Retry-After the ticketing system sent. A row is dead after
``relay_max_attempts`` attempts, after ``relay_max_age_seconds``, or at once on a permanent
error; the last error is kept, and `redrive` puts dead rows back in the queue.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from ingestion.schema import Escalation, OutboxRow
from ingestion.settings import IngestionSettings
from ingestion.store import Store

Outcome = Literal["retry", "dead"]
#: Open a ticket for an escalation (the relay).
TOPIC_CREATE = "ticket.create"
#: Add an escalation's update as a note on the conversation's open ticket (the relay).
TOPIC_NOTE = "ticket.note"
#: Note on the ticket that an agent's reply was forwarded (the message pusher).
TOPIC_BOT_NOTE = "ticket.bot_note"


def enqueue(
    tx: Session,
    *,
    topic: str,
    aggregate_id: str,
    idempotency_key: str,
    payload: dict[str, Any],
    now: dt.datetime,
) -> OutboxRow:
    """Add a pending row in the caller's transaction (it commits with the change that wants it).

    Rows of one ``aggregate_id`` are delivered in the order they were added.
    """
    row = OutboxRow(
        topic=topic,
        aggregate_id=aggregate_id[:200],
        idempotency_key=idempotency_key,
        payload=payload,
        state="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    tx.add(row)
    return row


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A claimed (or listed) outbox row."""

    id: int
    topic: str
    aggregate_id: str
    idempotency_key: str
    payload: dict[str, Any]
    state: str
    attempts: int
    next_attempt_at: dt.datetime
    created_at: dt.datetime
    last_error: str | None

    @classmethod
    def of(cls, row: OutboxRow) -> OutboxItem:
        return cls(
            id=row.id,
            topic=row.topic,
            aggregate_id=row.aggregate_id,
            idempotency_key=row.idempotency_key,
            payload=dict(row.payload),
            state=row.state,
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            created_at=row.created_at,
            last_error=row.last_error,
        )


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When to try again and when to give up."""

    max_attempts: int
    max_age: dt.timedelta
    base_delay: float
    max_delay: float

    @classmethod
    def from_settings(cls, settings: IngestionSettings) -> RetryPolicy:
        return cls(
            max_attempts=settings.relay_max_attempts,
            max_age=dt.timedelta(seconds=settings.relay_max_age_seconds),
            base_delay=settings.relay_base_delay,
            max_delay=settings.relay_max_delay,
        )

    def delay(self, attempts: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** max(attempts - 1, 0))
        jittered = rng.uniform(ceiling / 2, ceiling)
        return max(jittered, retry_after or 0.0)


def claim(
    store: Store,
    owner: str,
    *,
    now: dt.datetime,
    lease_seconds: float,
    limit: int,
    topics: tuple[str, ...],
) -> list[OutboxItem]:
    """Lease up to ``limit`` due rows of ``topics``, one per aggregate (its oldest pending row)."""
    older = aliased(OutboxRow)
    blocked = exists().where(
        older.aggregate_id == OutboxRow.aggregate_id,
        older.id < OutboxRow.id,
        older.state == "pending",
        older.topic.in_(topics),  # another worker's topics never hold these rows back
    )
    query = (
        select(OutboxRow)
        .where(
            OutboxRow.state == "pending",
            OutboxRow.topic.in_(topics),
            OutboxRow.next_attempt_at <= now,
            or_(OutboxRow.lease_expires_at.is_(None), OutboxRow.lease_expires_at <= now),
            ~blocked,
        )
        .order_by(OutboxRow.id)
        .limit(limit)
    )
    if not store.is_sqlite:
        query = query.with_for_update(skip_locked=True, of=OutboxRow)
    expires = now + dt.timedelta(seconds=lease_seconds)
    with store.transaction() as tx:
        rows = list(tx.scalars(query))
        for row in rows:
            row.lease_owner = owner
            row.lease_expires_at = expires
            row.attempts += 1
        tx.flush()
        return [OutboxItem.of(row) for row in rows]


def renew(
    store: Store, item: OutboxItem, owner: str, *, now: dt.datetime, lease_seconds: float
) -> bool:
    """Extend this relay's lease on a claimed row just before working on it.

    False when the lease was lost (it expired while earlier rows of the batch were delivered and
    another relay took the row over): the caller must leave the row alone.
    """
    with store.transaction() as tx:
        result = tx.execute(
            update(OutboxRow)
            .where(
                OutboxRow.id == item.id,
                OutboxRow.state == "pending",
                OutboxRow.lease_owner == owner,
            )
            .values(lease_expires_at=now + dt.timedelta(seconds=lease_seconds))
        )
        return bool(getattr(result, "rowcount", 0))


def complete(tx: Session, item: OutboxItem, *, now: dt.datetime) -> bool:
    """Mark a delivered row done; False when it was no longer pending (already finished)."""
    result = tx.execute(
        update(OutboxRow)
        .where(OutboxRow.id == item.id, OutboxRow.state == "pending")
        .values(state="done", finished_at=now, lease_owner=None, lease_expires_at=None)
    )
    return bool(getattr(result, "rowcount", 0))


def fail(
    tx: Session,
    item: OutboxItem,
    *,
    error: str,
    now: dt.datetime,
    policy: RetryPolicy,
    rng: random.Random,
    retry_after: float | None = None,
    permanent: bool = False,
) -> Outcome:
    """Record a failed attempt: schedule the retry, or dead-letter the row."""
    too_old = now - item.created_at >= policy.max_age
    if permanent or item.attempts >= policy.max_attempts or too_old:
        why = "permanent error" if permanent else ("too old" if too_old else "out of attempts")
        tx.execute(
            update(OutboxRow)
            .where(OutboxRow.id == item.id)
            .values(
                state="dead",
                last_error=f"{error} ({why} after {item.attempts} attempts)",
                finished_at=now,
                lease_owner=None,
                lease_expires_at=None,
            )
        )
        return "dead"
    wait = policy.delay(item.attempts, rng, retry_after)
    tx.execute(
        update(OutboxRow)
        .where(OutboxRow.id == item.id)
        .values(
            last_error=error,
            next_attempt_at=now + dt.timedelta(seconds=wait),
            lease_owner=None,
            lease_expires_at=None,
        )
    )
    return "retry"


def release(store: Store, items: list[OutboxItem]) -> None:
    """Give back leases of claimed rows that were not attempted (the relay is stopping)."""
    with store.transaction() as tx:
        for item in items:
            tx.execute(
                update(OutboxRow)
                .where(OutboxRow.id == item.id, OutboxRow.state == "pending")
                .values(lease_owner=None, lease_expires_at=None, attempts=OutboxRow.attempts - 1)
            )


def next_due(store: Store, *, topics: tuple[str, ...]) -> dt.datetime | None:
    """When the next pending row becomes claimable (None when nothing of ``topics`` is pending).

    Only the head row of each aggregate counts: the rows behind it wait for it.
    """
    with store.transaction() as tx:
        rows = tx.execute(
            select(OutboxRow.aggregate_id, OutboxRow.next_attempt_at, OutboxRow.lease_expires_at)
            .where(OutboxRow.state == "pending", OutboxRow.topic.in_(topics))
            .order_by(OutboxRow.id)
        ).all()
    heads: dict[str, dt.datetime] = {}
    for aggregate, next_at, lease in rows:
        if aggregate not in heads:
            heads[aggregate] = max(next_at, lease) if lease is not None else next_at
    return min(heads.values(), default=None)


def list_rows(
    store: Store, states: tuple[str, ...] = ("pending", "dead"), limit: int = 100
) -> list[OutboxItem]:
    """Rows in the given states, oldest first."""
    with store.transaction() as tx:
        rows = tx.scalars(
            select(OutboxRow).where(OutboxRow.state.in_(states)).order_by(OutboxRow.id).limit(limit)
        )
        return [OutboxItem.of(row) for row in rows]


def redrive(store: Store, ids: list[int] | None = None, *, now: dt.datetime) -> int:
    """Put dead rows (all, or those in ``ids``) back in the queue with fresh attempts.

    Their escalations go back to ``pending`` in the same transaction.
    """
    condition = OutboxRow.state == "dead"
    if ids is not None:
        condition = and_(condition, OutboxRow.id.in_(ids))
    with store.transaction() as tx:
        rows = list(tx.scalars(select(OutboxRow).where(condition)))
        for row in rows:
            row.state, row.attempts, row.next_attempt_at = "pending", 0, now
            row.finished_at = None
            # A re-driven row restarts its age too, or max_age would kill it again at once.
            row.created_at = now
        keys = [row.idempotency_key for row in rows]
        if keys:
            tx.execute(
                update(Escalation)
                .where(Escalation.id.in_(keys), Escalation.state == "dead")
                .values(state="pending")
            )
        return len(rows)


def oldest_pending_age(store: Store, *, now: dt.datetime) -> float | None:
    """Seconds since the oldest pending row was written (None when nothing is pending)."""
    with store.transaction() as tx:
        oldest = tx.scalar(
            select(func.min(OutboxRow.created_at)).where(OutboxRow.state == "pending")
        )
    if oldest is None:
        return None
    if oldest.tzinfo is None:  # min() bypasses the column type on SQLite
        oldest = dt.datetime.fromisoformat(str(oldest)).replace(tzinfo=dt.UTC)
    return max((now - oldest).total_seconds(), 0.0)


def counts(store: Store) -> dict[str, int]:
    """Rows per state (pending, done, dead)."""
    with store.transaction() as tx:
        result = tx.execute(select(OutboxRow.state, func.count()).group_by(OutboxRow.state))
        return {str(state): int(n) for state, n in result}
