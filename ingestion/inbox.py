"""The durable webhook inbox: deliveries stored raw before the 2xx, processed after it.

The receiver (`ingestion.http.webhooks`) calls `store_delivery` once a delivery is verified: the
row is unique per (source, delivery id), so a retried or replayed delivery is acknowledged and
dropped. Ids are kept ``webhook_dedupe_days`` (default 7, longer than senders retry: the
Standard Webhooks example schedule spans 75.5 hours) and then removed by `purge`.

`InboxWorker` processes due rows after the acknowledgement (the inbox is one of the store's work
queues, `ingestion.queue`: leases, backoff with Retry-After, ``failed`` as the dead letter). Every webhook is a *hint*: the
worker re-reads the announced ticket through the adapter and applies that snapshot, never the
webhook body, so unsigned (django-helpdesk) and signed deliveries share one path, and the order
in which deliveries arrive does not matter. Deliveries of one ticket in a batch share one
re-read. `replay` puts stored deliveries back to pending so that the same worker re-drives them.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import random
import socket
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ingestion import queue
from ingestion.applier import apply_in, write_with_retry
from ingestion.clock import utcnow
from ingestion.errors import TicketingRejected, TicketingUnavailable
from ingestion.queue import Failure, QueueTable, Retrier, Tally
from ingestion.schema import WebhookDelivery, WebhookRejection
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from ingestion.ticketing import RemoteTicket, TicketingAdapter

log = logging.getLogger(__name__)

#: The inbox as a queue (`ingestion.queue`): finished rows are ``processed``, dead ones ``failed``.
INBOX = QueueTable(WebhookDelivery, finished="processed_at", done="processed", dead="failed")
#: Header names never stored (credentials a proxy or sender may add).
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})


def safe_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers worth keeping with a delivery: lower-cased, credentials left out."""
    kept: dict[str, str] = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower in _SECRET_HEADERS or "token" in lower or "secret" in lower:
            continue
        kept[lower] = value
    return kept


def _insert(store: Store) -> Any:
    return postgresql.insert if store.engine.dialect.name == "postgresql" else sqlite.insert


def store_delivery(
    store: Store,
    *,
    source: str,
    delivery_id: str,
    ticket_external_id: str | None,
    headers: Mapping[str, str],
    body: bytes,
    now: dt.datetime | None = None,
) -> Literal["stored", "duplicate"]:
    """Persist one verified delivery; ``duplicate`` when (source, delivery id) is already kept."""
    received = now or utcnow()
    statement = (
        _insert(store)(WebhookDelivery)
        .values(
            source=source,
            delivery_id=delivery_id[:200],
            ticket_external_id=ticket_external_id,
            headers=safe_headers(headers),
            body=body,
            state="pending",
            attempts=0,
            next_attempt_at=received,
            received_at=received,
        )
        .on_conflict_do_nothing(index_elements=["source", "delivery_id"])
        .returning(WebhookDelivery.id)
    )
    with store.transaction() as session:
        inserted = session.execute(statement).scalar_one_or_none()
    return "duplicate" if inserted is None else "stored"


def record_rejection(
    store: Store, *, source: str, reason: str, now: dt.datetime | None = None, count: int = 1
) -> None:
    """Count ``count`` rejected deliveries under (source, reason)."""
    when = now or utcnow()
    statement = _insert(store)(WebhookRejection).values(
        source=source[:50], reason=reason[:40], count=count, last_at=when
    )
    statement = statement.on_conflict_do_update(
        index_elements=["source", "reason"],
        set_={"count": WebhookRejection.count + count, "last_at": when},
    )
    with store.transaction() as session:
        session.execute(statement)


def rejection_counts(store: Store) -> dict[tuple[str, str], int]:
    """Rejected deliveries so far, by (source, reason)."""
    with store.transaction() as session:
        rows = session.execute(
            select(WebhookRejection.source, WebhookRejection.reason, WebhookRejection.count)
        )
        return {(source, reason): int(count) for source, reason, count in rows}


def state_counts(store: Store) -> dict[str, int]:
    """Stored deliveries by state (pending, processed, failed)."""
    with store.transaction() as session:
        rows = session.execute(
            select(WebhookDelivery.state, func.count()).group_by(WebhookDelivery.state)
        )
        return {state: int(count) for state, count in rows}


def pending_count(store: Store) -> int:
    """Deliveries waiting for the worker (the receiver's back-pressure signal)."""
    with store.transaction() as session:
        count = session.scalar(select(func.count()).where(WebhookDelivery.state == "pending"))
        return int(count or 0)


def purge(store: Store, *, keep_days: float, now: dt.datetime | None = None) -> int:
    """Forget finished deliveries older than ``keep_days`` (their ids no longer dedupe)."""
    cutoff = (now or utcnow()) - dt.timedelta(days=keep_days)
    with store.transaction() as session:
        result = session.execute(
            delete(WebhookDelivery).where(
                WebhookDelivery.state != "pending", WebhookDelivery.received_at < cutoff
            )
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


def replay(
    store: Store,
    *,
    source: str | None = None,
    delivery_ids: Sequence[str] = (),
    since: dt.datetime | None = None,
    states: Sequence[str] = ("processed", "failed"),
    now: dt.datetime | None = None,
) -> int:
    """Put stored deliveries back to pending, due now, so that the worker re-drives them."""
    statement = update(WebhookDelivery).where(WebhookDelivery.state.in_(states))
    if source is not None:
        statement = statement.where(WebhookDelivery.source == source)
    if delivery_ids:
        statement = statement.where(WebhookDelivery.delivery_id.in_(delivery_ids))
    if since is not None:
        statement = statement.where(WebhookDelivery.received_at >= since)
    with store.transaction() as session:
        result = session.execute(
            statement.values(
                state="pending",
                last_error=None,
                processed_at=None,
                next_attempt_at=now or utcnow(),
                lease_owner=None,
                lease_expires_at=None,
            )
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class InboxReport(Tally):
    """What `InboxWorker.process_pending` rounds did (reports add up)."""

    processed: int = 0  # deliveries finished (including those of tickets that are not ours)
    failed: int = 0  # deliveries given up (permanent errors, out of attempts, too old)
    deferred: int = 0  # deliveries left pending after a retryable failure (backing off)
    unknown_tickets: int = 0  # deliveries whose ticket has no mirror row
    messages: int = 0  # outgoing messages created
    retry_after: float | None = None  # the ticketing system asked us to wait

    @property
    def busy(self) -> bool:
        return self.processed + self.failed > 0


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: int
    source: str
    ticket_id: str | None
    attempts: int
    created_at: dt.datetime  # received_at: a delivery's age counts from its arrival

    @classmethod
    def of(cls, row: WebhookDelivery) -> _Claimed:
        return cls(row.id, row.source, row.ticket_external_id, row.attempts, row.received_at)


class InboxWorker:
    """Processes pending deliveries: re-read each announced ticket, apply it, mark the rows.

    Deliveries are claimed with a lease like every queue's rows (`ingestion.queue`); a retryable
    failure backs off with the shared `ingestion.queue.RetryPolicy` and honours the system's Retry-After.
    """

    def __init__(
        self,
        store: Store,
        adapter: TicketingAdapter,
        settings: IngestionSettings,
        *,
        cause: str = "webhook",
        clock: Callable[[], dt.datetime] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.adapter = adapter
        self.settings = settings
        self.cause = cause
        self.clock = clock
        self.retrier = Retrier.from_settings(settings, rng=rng, clock=clock)
        self.owner = f"inbox:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._purged: dt.datetime | None = None

    def _claim(self, limit: int) -> dict[str | None, list[_Claimed]]:
        rows = queue.claim(
            self.store,
            INBOX,
            self.owner,
            now=self.clock(),
            lease_seconds=self.settings.relay_lease_seconds,
            limit=limit,
            view=_Claimed.of,
        )
        groups: dict[str | None, list[_Claimed]] = {}
        for row in rows:
            key = row.ticket_id if row.source == self.adapter.source else None
            groups.setdefault(key, []).append(row)
        return groups

    def process_pending(self, limit: int | None = None) -> InboxReport:
        """One round over up to ``limit`` (default ``inbox_batch_size``) due deliveries."""
        groups = self._claim(limit or self.settings.inbox_batch_size)
        report = InboxReport()
        for index, (ticket_id, rows) in enumerate(groups.items()):
            if ticket_id is None:
                error = "no ticket id for this adapter's source"
                report += self._fail(rows, error, permanent=True)
                continue
            try:
                remote = self.adapter.get_ticket(ticket_id)
            except TicketingUnavailable as exc:
                report += self._fail(rows, str(exc), retry_after=exc.retry_after)
                later = [row.id for rows in list(groups.values())[index + 1 :] for row in rows]
                queue.release(self.store, INBOX, later)  # the system said wait: so do they
                return report + InboxReport(retry_after=exc.retry_after or 0.0)
            except TicketingRejected as exc:
                error = f"re-reading ticket {ticket_id}: {exc}"
                report += self._fail(rows, error, permanent=True)
                continue
            except Exception as exc:  # an adapter bug must not stop the worker: count, retry
                log.exception("inbox: re-reading ticket %s failed", ticket_id)
                report += self._fail(rows, f"{type(exc).__name__}: {exc}")
                continue
            report += write_with_retry(
                self.store,
                functools.partial(self._apply, remote=remote, rows=rows),
                what=f"inbox ticket {ticket_id}",
            )
        return report

    def _apply(
        self, session: Session, *, remote: RemoteTicket, rows: list[_Claimed]
    ) -> InboxReport:
        now = self.clock()
        ids = [row.id for row in rows]
        done = queue.complete(session, INBOX, ids, now=now, owner=self.owner)
        if not done:
            return InboxReport()  # the leases expired and another worker took the rows over
        result = apply_in(
            session, self.adapter.source, remote, cause=self.cause, settings=self.settings, now=now
        )
        if not result.known:
            session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id.in_(ids))
                .values(last_error="ticket not mirrored: ignored")
            )
        unknown = 0 if result.known else done
        return InboxReport(processed=done, unknown_tickets=unknown, messages=len(result.messages))

    def _fail(
        self,
        rows: list[_Claimed],
        error: str,
        *,
        retry_after: float | None = None,
        permanent: bool = False,
    ) -> InboxReport:
        failure = Failure(error, retry_after, permanent)
        with self.store.transaction() as session:
            outcomes = [self.retrier.fail(session, INBOX, row, failure) for row in rows]
        dead = outcomes.count("dead")
        if dead:
            log.warning("inbox: %d deliveries failed: %s", dead, error)
        return InboxReport(failed=dead, deferred=len(outcomes) - dead)

    def round(self) -> InboxReport:
        """Purge old deliveries (at most hourly), then process what is due."""
        now = self.clock()
        if self._purged is None or now - self._purged > dt.timedelta(hours=1):
            purge(self.store, keep_days=self.settings.webhook_dedupe_days, now=now)
            self._purged = now
        return self.process_pending()

    def run(
        self, stop: threading.Event, *, sleep: Callable[[float], object] | None = None
    ) -> InboxReport:
        """Process until ``stop`` is set; idle and Retry-After waits end early when it is."""
        return queue.run(
            stop,
            self.round,
            empty=InboxReport(),
            idle=self.settings.inbox_poll_interval,
            name="inbox worker",
            sleep=sleep,
        )
