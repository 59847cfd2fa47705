"""The transactional outbox: claiming work with leases, retrying, dead-lettering, re-driving.

Rows are written with `enqueue` inside the transaction of the change that asks for them:
`ingestion.escalations.escalate` (topics `TOPIC_CREATE`, `TOPIC_NOTE`) and the update applier
(`TOPIC_BOT_NOTE`, the optional "forwarded" note).
The outbox is one of the store's work queues (`ingestion.queue`): a relay *claims* rows by giving
them a lease and counting the attempt; a row whose lease has expired (its relay was killed) is
claimable again. On SQLite claims are serialised (one relay per database file is the intended
set-up); on PostgreSQL any number of relays share the work without waiting on each other.

Ordering: only the oldest pending row of an aggregate (a conversation) is claimable, so a bot
note never overtakes the creation of its ticket, and a failing head row holds back the rest of
its conversation (only) until it is delivered or dead.

Retries back off exponentially with jitter (``base · 2^(attempt-1)``, capped, drawn from its upper
half) and never earlier than a Retry-After the ticketing system sent. A row is dead after
``relay_max_attempts`` attempts, after ``relay_max_age_seconds``, or at once on a permanent
error; the last error is kept, and `redrive` puts dead rows back in the queue. Pending rows
that sat past a threshold with no live lease (`stuck_outbox`) are made due at once by
`redrive_stuck`, which ``ticket_sync`` runs (dead rows stay dead: that is an operator's call).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from ingestion import queue
from ingestion.queue import Failure, Outcome, QueueTable, RetryPolicy, Scope
from ingestion.schema import Escalation, OutboxRow
from ingestion.store import Store

__all__ = [
    "OUTBOX",
    "TOPIC_BOT_NOTE",
    "TOPIC_CREATE",
    "TOPIC_NOTE",
    "OutboxItem",
    "RetryPolicy",
    "claim",
    "complete",
    "counts",
    "enqueue",
    "fail",
    "list_rows",
    "next_due",
    "oldest_pending_age",
    "redrive",
    "redrive_stuck",
    "release",
    "renew",
    "stuck_outbox",
]
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


#: The outbox as a queue: one conversation (aggregate) at a time, dead rows say why.
OUTBOX = QueueTable(OutboxRow, group="aggregate_id", explain_dead=True)


def _topics(topics: tuple[str, ...]) -> Scope:
    return lambda table: (table.topic.in_(topics),)


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
    return queue.claim(
        store,
        OUTBOX,
        owner,
        now=now,
        lease_seconds=lease_seconds,
        limit=limit,
        view=OutboxItem.of,
        scope=_topics(topics),
    )


def renew(
    store: Store, item: OutboxItem, owner: str, *, now: dt.datetime, lease_seconds: float
) -> bool:
    """Extend this relay's lease on a claimed row just before working on it (False: lost)."""
    return queue.renew(store, OUTBOX, item.id, owner, now=now, lease=lease_seconds)


def complete(tx: Session, item: OutboxItem, *, now: dt.datetime) -> bool:
    """Mark a delivered row done; False when it was no longer pending (already finished)."""
    return queue.complete(tx, OUTBOX, [item.id], now=now) > 0


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
    failure = Failure(error, retry_after, permanent)
    return queue.fail(tx, OUTBOX, item, failure, now=now, policy=policy, rng=rng)


def release(store: Store, items: list[OutboxItem]) -> None:
    """Give back leases of claimed rows that were not attempted (the relay is stopping)."""
    queue.release(store, OUTBOX, [item.id for item in items])


def next_due(store: Store, *, topics: tuple[str, ...]) -> dt.datetime | None:
    """When the next pending row of ``topics`` becomes claimable (None when none is pending)."""
    return queue.next_due(store, OUTBOX, scope=_topics(topics))


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


def stuck_outbox(store: Store, *, now: dt.datetime, older_than: float) -> list[int]:
    """Pending rows created before ``now - older_than`` seconds and not leased right now."""
    cutoff = now - dt.timedelta(seconds=older_than)
    with store.transaction() as tx:
        query = select(OutboxRow.id).where(
            OutboxRow.state == "pending",
            OutboxRow.created_at < cutoff,
            or_(OutboxRow.lease_expires_at.is_(None), OutboxRow.lease_expires_at <= now),
        )
        return list(tx.scalars(query.order_by(OutboxRow.id)))


def redrive_stuck(store: Store, ids: list[int], *, now: dt.datetime) -> int:
    """Make stuck pending rows due now (their attempts and age are kept)."""
    with store.transaction() as tx:
        rows = list(tx.scalars(select(OutboxRow).where(OutboxRow.id.in_(ids))))
        for row in rows:
            if row.state == "pending":
                row.next_attempt_at = now
                row.lease_owner = row.lease_expires_at = None
        return len(rows)
