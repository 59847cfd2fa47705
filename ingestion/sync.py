"""The polling sync worker: a cursor over (updated_at, ticket id), for systems without webhooks
and as the safety net beside them.

One poll (`SyncWorker.poll_once`):

1. starts ``sync_overlap_seconds`` behind the stored cursor (changes committed late, clocks that
   disagree, and django-helpdesk's follow-up dates all land a little behind the newest one seen);
2. pages with ``list_updated_since(since, after_id, limit)``, whose rows satisfy
   ``(updated_at, id) >= (since, after_id)``; the row equal to the previous page's last one is
   skipped (tuple skip), so tickets sharing one ``updated_at`` across page boundaries are neither
   missed nor looped over. Numeric ids compare as numbers, as the adapters order them;
3. applies each page and advances the cursor (never backwards) in one transaction: a crash
   repeats at most one page, and re-applying is harmless (the applier is idempotent);
4. re-reads the tickets that webhooks announced since the previous poll and that the listing did
   not return (a webhook may have been processed while the system was failing, and a status
   change without a new follow-up is invisible to django-helpdesk's derived ``updated_at``).

A 429 (``TicketingUnavailable.retry_after``) ends the poll early; `run` waits that long. All
times are zone-aware UTC. The cursor lag (now − cursor time) is reported with every poll.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingestion import queue
from ingestion.applier import apply_in, write_with_retry
from ingestion.clock import utcnow
from ingestion.errors import TicketingRejected, TicketingUnavailable
from ingestion.queue import Tally
from ingestion.schema import SyncCursor, WebhookDelivery
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from ingestion.ticketing import RemoteTicket, TicketingAdapter

log = logging.getLogger(__name__)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
CursorKey = tuple[dt.datetime, tuple[int, int, str]]


def id_order(ticket_id: str) -> tuple[int, int, str]:
    """Numeric ids in numeric order, then other ids in text order."""
    return (0, int(ticket_id), "") if ticket_id.isdigit() else (1, 0, ticket_id)


def cursor_key(updated_at: dt.datetime, ticket_id: str) -> CursorKey:
    """The total order the cursor moves along."""
    return (updated_at, id_order(ticket_id))


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where polling has got to for one source."""

    updated_at: dt.datetime
    ticket_id: str
    polled_at: dt.datetime | None = None

    @property
    def key(self) -> CursorKey:
        return cursor_key(self.updated_at, self.ticket_id)


@dataclass(frozen=True, slots=True)
class SyncReport(Tally):
    """What a poll (or several) did; reports add up, the cursor and lag are the latest."""

    pages: int = 0
    tickets_seen: int = 0
    applied: int = 0  # snapshots of tickets caseloop mirrors
    transitions: int = 0
    messages: int = 0
    reconciled: int = 0  # webhook-announced tickets re-read outside the listing
    cursor: Cursor | None = None
    lag_seconds: float | None = None  # now − cursor time at the end of the poll
    retry_after: float | None = None  # set when the system asked us to wait

    @property
    def busy(self) -> bool:
        return False  # polling is paced by sync_interval, whatever a poll found


def read_cursor(store: Store, source: str) -> Cursor | None:
    """The stored cursor of ``source`` (None before the first poll)."""
    with store.transaction() as session:
        row = session.get(SyncCursor, source)
        return None if row is None else Cursor(row.updated_at, row.ticket_id, row.polled_at)


def _save_cursor(
    session: Session, source: str, last: RemoteTicket | None, now: dt.datetime
) -> Cursor:
    row = session.get(SyncCursor, source, with_for_update=True)
    if row is None:
        row = SyncCursor(source=source, updated_at=EPOCH, ticket_id="", advanced_at=now)
        session.add(row)
    stored = cursor_key(row.updated_at, row.ticket_id)
    if last is not None and last.updated_at is not None and _key(last) > stored:
        row.updated_at, row.ticket_id, row.advanced_at = last.updated_at, last.id, now
    return Cursor(row.updated_at, row.ticket_id, row.polled_at)


class SyncWorker:
    """Polls one ticketing system and feeds the applier; ``clock`` is injectable for tests."""

    def __init__(
        self,
        store: Store,
        adapter: TicketingAdapter,
        settings: IngestionSettings,
        *,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.store = store
        self.adapter = adapter
        self.settings = settings
        self.clock = clock
        self.source = adapter.source

    def _apply_page(self, tickets: Sequence[RemoteTicket], last: RemoteTicket | None) -> SyncReport:
        def work(session: Session) -> SyncReport:
            now = self.clock()
            applied = transitions = messages = 0
            for remote in tickets:
                result = apply_in(
                    session, self.source, remote, cause="poll", settings=self.settings, now=now
                )
                applied += result.known
                transitions += result.transition is not None
                messages += len(result.messages)
            cursor = _save_cursor(session, self.source, last, now)
            return SyncReport(
                applied=applied, transitions=transitions, messages=messages, cursor=cursor
            )

        return write_with_retry(self.store, work, what=f"sync page of {self.source}")

    def poll_once(self) -> SyncReport:
        """One pass: list pages from the cursor, then reconcile webhook-announced tickets."""
        started = self.clock()
        stored = read_cursor(self.store, self.source)
        overlap = dt.timedelta(seconds=self.settings.sync_overlap_seconds)
        since = stored.updated_at - overlap if stored else EPOCH
        after: str | None = None
        report, seen = SyncReport(cursor=stored), set[str]()
        while True:
            limit = self.settings.sync_page_size + (after is not None)
            try:
                page = self.adapter.list_updated_since(since, after, limit)
            except TicketingUnavailable as exc:
                return self._finish(report, retry_after=exc.retry_after or 0.0)
            floor = cursor_key(since, after) if after is not None else None
            fresh = [t for t in page if floor is None or _key(t) > floor]  # the tuple skip
            last = fresh[-1] if fresh else None
            report += self._apply_page(fresh, last) + SyncReport(pages=1, tickets_seen=len(fresh))
            seen.update(t.id for t in fresh)
            if len(page) < limit or last is None or last.updated_at is None:
                break
            since, after = last.updated_at, last.id
        report = self._reconcile(report, seen, stored)
        if report.retry_after is None:
            self._mark_polled(started)
        return self._finish(report)

    def _announced(self, stored: Cursor | None) -> list[str]:
        overlap = dt.timedelta(seconds=self.settings.sync_overlap_seconds)
        since = (stored.polled_at - overlap) if stored and stored.polled_at else EPOCH
        with self.store.transaction() as session:
            rows = session.scalars(
                select(WebhookDelivery.ticket_external_id)
                .where(
                    WebhookDelivery.source == self.source,
                    WebhookDelivery.received_at >= since,
                    WebhookDelivery.ticket_external_id.is_not(None),
                )
                .distinct()
            )
            return sorted({r for r in rows if r is not None}, key=id_order)

    def _reconcile(self, report: SyncReport, seen: set[str], stored: Cursor | None) -> SyncReport:
        for ticket_id in self._announced(stored):
            if ticket_id in seen:
                continue
            try:
                remote = self.adapter.get_ticket(ticket_id)
            except TicketingUnavailable as exc:
                return replace(report, retry_after=exc.retry_after or 0.0)
            except TicketingRejected as exc:
                log.warning("sync: announced ticket %s could not be read: %s", ticket_id, exc)
                continue
            report += self._apply_page([remote], None) + SyncReport(reconciled=1)
        return report

    def _mark_polled(self, started: dt.datetime) -> None:
        def work(session: Session) -> None:
            _save_cursor(session, self.source, None, started)
            row = session.get(SyncCursor, self.source)
            if row is not None:
                row.polled_at = started

        write_with_retry(self.store, work, what=f"sync cursor of {self.source}")

    def _finish(self, report: SyncReport, *, retry_after: float | None = None) -> SyncReport:
        cursor = read_cursor(self.store, self.source)
        known = cursor is not None and cursor.updated_at > EPOCH
        lag = (self.clock() - cursor.updated_at).total_seconds() if known and cursor else None
        final = replace(report, cursor=cursor, lag_seconds=lag)
        return final if retry_after is None else replace(final, retry_after=retry_after)

    def round(self) -> SyncReport:
        """One poll, logged."""
        report = self.poll_once()
        log.info(
            "sync %s: %d tickets, %d messages, lag %.1fs",
            self.source,
            report.tickets_seen,
            report.messages,
            report.lag_seconds or 0.0,
        )
        return report

    def run(
        self, stop: threading.Event, *, sleep: Callable[[float], object] | None = None
    ) -> SyncReport:
        """Poll every ``sync_interval`` seconds (or after Retry-After) until ``stop`` is set."""
        return queue.run(
            stop,
            self.round,
            empty=SyncReport(),
            idle=self.settings.sync_interval,
            name=f"sync {self.source}",
            sleep=sleep,
            least_wait=1.0,
        )


def _key(ticket: RemoteTicket) -> CursorKey:
    return cursor_key(ticket.updated_at or EPOCH, ticket.id)
