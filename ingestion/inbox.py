"""The durable webhook inbox: deliveries stored raw before the 2xx, processed after it.

The receiver (`ingestion.http.webhooks`) calls `store_delivery` once a delivery is verified: the
row is unique per (source, delivery id), so a retried or replayed delivery is acknowledged and
dropped. Ids are kept ``webhook_dedupe_days`` (default 7, longer than senders retry: the
Standard Webhooks example schedule spans 75.5 hours) and then removed by `purge`.

`InboxWorker` processes pending rows after the acknowledgement. Every webhook is a *hint*: the
worker re-reads the announced ticket through the adapter and applies that snapshot, never the
webhook body, so unsigned (django-helpdesk) and signed deliveries share one path, and the order
in which deliveries arrive does not matter. Deliveries of one ticket in a batch share one
re-read. `replay` puts stored deliveries back to pending so that the same worker re-drives them.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ingestion.applier import apply_in, write_with_retry
from ingestion.clock import utcnow
from ingestion.errors import TicketingRejected, TicketingUnavailable
from ingestion.schema import WebhookDelivery, WebhookRejection
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from ingestion.ticketing import RemoteTicket, TicketingAdapter

log = logging.getLogger(__name__)

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
            received_at=now or utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["source", "delivery_id"])
        .returning(WebhookDelivery.id)
    )
    with store.transaction() as session:
        inserted = session.execute(statement).scalar_one_or_none()
    return "duplicate" if inserted is None else "stored"


def record_rejection(
    store: Store, *, source: str, reason: str, now: dt.datetime | None = None
) -> None:
    """Count one rejected delivery under (source, reason)."""
    when = now or utcnow()
    statement = _insert(store)(WebhookRejection).values(
        source=source[:50], reason=reason[:40], count=1, last_at=when
    )
    statement = statement.on_conflict_do_update(
        index_elements=["source", "reason"],
        set_={"count": WebhookRejection.count + 1, "last_at": when},
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
) -> int:
    """Put stored deliveries back to pending so that the worker re-drives them; how many."""
    statement = update(WebhookDelivery).where(WebhookDelivery.state.in_(states))
    if source is not None:
        statement = statement.where(WebhookDelivery.source == source)
    if delivery_ids:
        statement = statement.where(WebhookDelivery.delivery_id.in_(delivery_ids))
    if since is not None:
        statement = statement.where(WebhookDelivery.received_at >= since)
    with store.transaction() as session:
        result = session.execute(
            statement.values(state="pending", last_error=None, processed_at=None)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class InboxReport:
    """What one `InboxWorker.process_pending` round did."""

    processed: int = 0  # deliveries finished (including those of tickets that are not ours)
    failed: int = 0  # deliveries given up (permanent errors, too many attempts)
    deferred: int = 0  # deliveries left pending after a retryable failure
    unknown_tickets: int = 0  # deliveries whose ticket has no mirror row
    messages: int = 0  # outgoing messages created
    retry_after: float | None = None  # the ticketing system asked us to wait


class InboxWorker:
    """Processes pending deliveries: re-read each announced ticket, apply it, mark the rows."""

    def __init__(
        self,
        store: Store,
        adapter: TicketingAdapter,
        settings: IngestionSettings,
        *,
        cause: str = "webhook",
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.store = store
        self.adapter = adapter
        self.settings = settings
        self.cause = cause
        self.clock = clock

    def _batch(self, limit: int) -> dict[str | None, list[int]]:
        with self.store.transaction() as session:
            rows = session.execute(
                select(
                    WebhookDelivery.id, WebhookDelivery.source, WebhookDelivery.ticket_external_id
                )
                .where(WebhookDelivery.state == "pending")
                .order_by(WebhookDelivery.id)
                .limit(limit)
            ).all()
        groups: dict[str | None, list[int]] = {}
        for row_id, source, ticket_id in rows:
            key = ticket_id if source == self.adapter.source else None
            groups.setdefault(key, []).append(row_id)
        return groups

    def process_pending(self, limit: int | None = None) -> InboxReport:
        """One round over up to ``limit`` (default ``inbox_batch_size``) pending deliveries."""
        groups = self._batch(limit or self.settings.inbox_batch_size)
        report = InboxReport()
        for ticket_id, row_ids in groups.items():
            if ticket_id is None:
                self._finish(row_ids, error="no ticket id for this adapter's source", failed=True)
                report = _add(report, failed=len(row_ids))
                continue
            try:
                remote = self.adapter.get_ticket(ticket_id)
            except TicketingUnavailable as exc:
                deferred, failed = self._defer(row_ids, str(exc))
                return _add(
                    report, deferred=deferred, failed=failed, retry_after=exc.retry_after or 0.0
                )
            except TicketingRejected as exc:
                self._finish(row_ids, error=f"re-reading ticket {ticket_id}: {exc}", failed=True)
                report = _add(report, failed=len(row_ids))
                continue
            except Exception as exc:  # an adapter bug must not stop the worker: count, retry
                log.exception("inbox: re-reading ticket %s failed", ticket_id)
                deferred, failed = self._defer(row_ids, f"{type(exc).__name__}: {exc}")
                report = _add(report, deferred=deferred, failed=failed)
                continue
            done, known, messages = write_with_retry(
                self.store,
                functools.partial(self._apply, remote=remote, row_ids=row_ids),
                what=f"inbox ticket {ticket_id}",
            )
            report = _add(
                report, processed=done, unknown_tickets=0 if known else done, messages=messages
            )
        return report

    def _apply(
        self, session: Session, *, remote: RemoteTicket, row_ids: list[int]
    ) -> tuple[int, bool, int]:
        claimed = session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.id.in_(row_ids), WebhookDelivery.state == "pending")
            .with_for_update(skip_locked=True)
        ).all()
        if not claimed:
            return 0, True, 0  # another worker took them
        now = self.clock()
        result = apply_in(
            session, self.adapter.source, remote, cause=self.cause, settings=self.settings, now=now
        )
        for row in claimed:
            row.state, row.processed_at, row.attempts = "processed", now, row.attempts + 1
            row.last_error = None if result.known else "ticket not mirrored: ignored"
        return len(claimed), result.known, len(result.messages)

    def _finish(self, row_ids: list[int], *, error: str, failed: bool) -> None:
        with self.store.transaction() as session:
            session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id.in_(row_ids), WebhookDelivery.state == "pending")
                .values(
                    state="failed" if failed else "processed",
                    processed_at=self.clock(),
                    attempts=WebhookDelivery.attempts + 1,
                    last_error=error[:2000],
                )
            )
        log.warning("inbox: %d deliveries failed: %s", len(row_ids), error)

    def _defer(self, row_ids: list[int], error: str) -> tuple[int, int]:
        limit = self.settings.relay_max_attempts
        with self.store.transaction() as session:
            rows = session.scalars(
                select(WebhookDelivery).where(
                    WebhookDelivery.id.in_(row_ids), WebhookDelivery.state == "pending"
                )
            ).all()
            for row in rows:
                row.attempts += 1
                row.last_error = error[:2000]
                if row.attempts >= limit:
                    row.state, row.processed_at = "failed", self.clock()
        failed = sum(1 for row in rows if row.state == "failed")
        return len(rows) - failed, failed

    def run(self, stop: threading.Event, *, sleep: Callable[[float], object] | None = None) -> None:
        """Process until ``stop`` is set; idle and back-off waits end early when it is."""
        wait = sleep or stop.wait
        last_purge: dt.datetime | None = None
        while not stop.is_set():
            now = self.clock()
            if last_purge is None or now - last_purge > dt.timedelta(hours=1):
                purge(self.store, keep_days=self.settings.webhook_dedupe_days, now=now)
                last_purge = now
            try:
                report = self.process_pending()
            except Exception:  # the store is down, say: log, wait, try again
                log.exception("inbox worker round failed")
                wait(self.settings.inbox_poll_interval)
                continue
            if report.retry_after is not None:
                wait(max(report.retry_after, self.settings.inbox_poll_interval))
            elif report.processed + report.failed == 0:
                wait(self.settings.inbox_poll_interval)


def _add(report: InboxReport, **more: Any) -> InboxReport:
    values = {name: getattr(report, name) for name in InboxReport.__slots__}
    for name, value in more.items():
        values[name] = value if name == "retry_after" else values[name] + value
    return InboxReport(**values)
