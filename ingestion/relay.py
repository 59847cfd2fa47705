"""The outbox relay: delivers escalations to the ticketing system, exactly one ticket each.

For each claimed row (see `ingestion.outbox`) the relay decides between three actions:

* the conversation has an open ticket in the mirror → add an internal bot note to it;
* an earlier attempt of this row may have reached the system, or the conversation has history →
  look the ticket up by external conversation id first: django-helpdesk ignores idempotency keys
  and can answer 500 *after* committing, so a retry must re-read before it writes. A ticket we
  did not know and that this row may have created is adopted as this row's own; any other open
  ticket gets a note;
* otherwise create the ticket (with the idempotency key for systems that honour it).

Notes carry a marker naming their escalation; a retried note first checks that the marker is not
already on the ticket, so relay crashes do not duplicate notes. What was delivered is recorded
through the update applier (`ingestion.applier.record_delivery`: the mirror row, its first event,
the snapshot the system answered with, the relay's own note as the bot's) in one transaction with
the escalation's state and the outbox row.

Clock, sleep and randomness are injectable: tests fast-forward time and never really wait.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingestion import outbox, queue
from ingestion.applier import Opening, record_delivery, write_with_retry
from ingestion.clock import utcnow
from ingestion.errors import TicketingRejected, TicketingUnavailable
from ingestion.escalations import EscalationRequest
from ingestion.notes import write_note_once
from ingestion.outbox import OUTBOX, TOPIC_CREATE, TOPIC_NOTE, OutboxItem
from ingestion.queue import Failure, Retrier, Tally
from ingestion.schema import Escalation, Ticket
from ingestion.settings import IngestionSettings
from ingestion.status import OPEN_STATUSES, mirror_status
from ingestion.store import Store
from ingestion.tenancy import qualified
from ingestion.ticket_body import marker, note_text, ticket_body, ticket_title
from ingestion.ticketing import NewTicket, RemoteComment, RemoteTicket, TicketingAdapter

log = logging.getLogger(__name__)

TOPICS = (TOPIC_CREATE, TOPIC_NOTE)


class _RowVanished(Exception):
    """The escalation behind an outbox row no longer exists."""


@dataclass(frozen=True, slots=True)
class RelayReport(Tally):
    """What rounds (a drain, a whole run) did; reports add up."""

    delivered: int = 0
    retried: int = 0
    dead: int = 0


@dataclass(frozen=True, slots=True)
class _Context:
    request: EscalationRequest
    previous: EscalationRequest | None
    open_ticket: str | None  # external id of the conversation's open mirrored ticket
    open_ticket_linked: bool  # an escalation already points at it (else: mirrored by a webhook)
    known_tickets: frozenset[str]
    has_history: bool


@dataclass(frozen=True, slots=True)
class _Delivered:
    external_id: str
    snapshot: RemoteTicket | None = None  # None: a ticket whose state we did not read
    notes: tuple[RemoteComment, ...] = ()  # the notes this delivery wrote

    def with_note(self, note: RemoteComment) -> _Delivered:
        return _Delivered(self.external_id, self.snapshot, (note,))


class Relay:
    """Claims outbox rows and delivers them through a ticketing adapter."""

    def __init__(
        self,
        store: Store,
        adapter: TicketingAdapter,
        settings: IngestionSettings,
        *,
        clock: Callable[[], dt.datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        owner: str | None = None,
    ) -> None:
        self.store, self.adapter, self.settings = store, adapter, settings
        self.clock, self.sleep = clock, sleep
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.retrier = Retrier.from_settings(settings, rng=rng, clock=clock)

    def round(self, stop: threading.Event | None = None) -> RelayReport:
        """Claim one batch and deliver it (leases of rows not reached before ``stop`` go back)."""
        items = outbox.claim(
            self.store,
            self.owner,
            now=self.clock(),
            lease_seconds=self.settings.relay_lease_seconds,
            limit=self.settings.relay_batch_size,
            topics=TOPICS,
        )
        report = RelayReport()
        for index, item in enumerate(items):
            if stop is not None and stop.is_set():
                outbox.release(self.store, items[index:])
                break
            report += self.process(item)
        return report

    def drain(self, *, wait: bool = False, stop: threading.Event | None = None) -> RelayReport:
        """Deliver every due row. With ``wait``, also wait out retries until nothing is pending."""
        report = RelayReport()
        while stop is None or not stop.is_set():
            report += queue.drain(lambda: self.round(stop), empty=RelayReport(), stop=stop)
            due = outbox.next_due(self.store, topics=TOPICS)
            if not wait or due is None:
                break
            self.sleep(max((due - self.clock()).total_seconds(), 0.0) + 0.001)
        return report

    def run(self, stop: threading.Event) -> RelayReport:
        """The long-running worker: deliver, idle for the poll interval, until ``stop`` is set."""
        return queue.run(
            stop,
            lambda: self.round(stop),
            empty=RelayReport(),
            idle=self.settings.relay_poll_interval,
            name="relay",
        )

    def process(self, item: OutboxItem) -> RelayReport:
        """Deliver one claimed row and record the outcome (nothing if its lease was lost)."""
        lease = self.settings.relay_lease_seconds
        if not outbox.renew(self.store, item, self.owner, now=self.clock(), lease_seconds=lease):
            log.warning("outbox row %s: lease lost to another relay, skipped", item.id)
            return RelayReport()
        try:
            context = self._context(item)
            delivered = self._deliver(item, context)
        except TicketingUnavailable as exc:
            return self._failed(item, Failure(f"unavailable: {exc}", exc.retry_after))
        except (TicketingRejected, _RowVanished) as exc:
            return self._failed(item, Failure(f"rejected: {exc}", permanent=True))
        except Exception as exc:  # an adapter bug must not kill the relay; the row is retried
            log.exception("delivering outbox row %s failed", item.id)
            return self._failed(item, Failure(f"{type(exc).__name__}: {exc}"))
        try:
            self._record(item, context, delivered)
        except Exception as exc:  # e.g. a webhook handler mirrored the ticket at the same moment
            log.exception("recording outbox row %s failed", item.id)
            return self._failed(
                item, Failure(f"recording the delivery failed: {type(exc).__name__}")
            )
        return RelayReport(delivered=1)

    def _context(self, item: OutboxItem) -> _Context:
        with self.store.transaction() as tx:
            row = tx.get(Escalation, item.payload["escalation_id"])
            if row is None:
                raise _RowVanished(f"escalation {item.payload['escalation_id']} does not exist")
            previous_id = item.payload.get("previous_escalation_id")
            previous = tx.get(Escalation, previous_id) if previous_id else None
            tickets = tx.execute(
                select(Ticket.external_id, Ticket.status, Ticket.id)
                .where(
                    Ticket.tenant == row.tenant,
                    Ticket.session_id == row.session_id,
                    Ticket.source == self.adapter.source,
                )
                .order_by(Ticket.id.desc())
            ).all()
            open_row = next((t for t in tickets if t.status in OPEN_STATUSES), None)
            linked = (
                open_row is not None
                and tx.scalars(
                    select(Escalation.id).where(Escalation.ticket_id == open_row.id).limit(1)
                ).first()
                is not None
            )
            history = tx.scalars(
                select(Escalation.id)
                .where(
                    Escalation.tenant == row.tenant,
                    Escalation.session_id == row.session_id,
                    Escalation.id != row.id,
                )
                .limit(1)
            ).first()
            return _Context(
                request=EscalationRequest.model_validate(row.payload),
                previous=EscalationRequest.model_validate(previous.payload) if previous else None,
                open_ticket=open_row.external_id if open_row is not None else None,
                open_ticket_linked=linked,
                known_tickets=frozenset(t.external_id for t in tickets),
                has_history=history is not None,
            )

    def _deliver(self, item: OutboxItem, context: _Context) -> _Delivered:
        if context.open_ticket is not None:
            if not context.open_ticket_linked and item.attempts > 1:
                # A webhook mirrored the ticket this row's lost attempt created: adopt it.
                return _Delivered(context.open_ticket)
            return self._note(item, context, _Delivered(context.open_ticket))
        may_exist = item.attempts > 1 or context.has_history
        if may_exist and self.adapter.capabilities.find_by_conversation:
            request = context.request
            remote = self.adapter.find_by_conversation(
                qualified(request.tenant, request.session_id)
            )
            if remote is not None:
                found = _Delivered(remote.id, remote)
                if remote.id not in context.known_tickets and item.attempts > 1:
                    # This row's own earlier attempt created it (500 after commit, timeout,
                    # crash): adopt it whatever its status, an agent may already have closed it.
                    return found
                if mirror_status(remote.status) in OPEN_STATUSES:
                    return self._note(item, context, found)
        return self._create(item, context)

    def _create(self, item: OutboxItem, context: _Context) -> _Delivered:
        request = context.request
        remote = self.adapter.create_ticket(
            NewTicket(
                idempotency_key=item.idempotency_key,
                external_conversation_id=qualified(request.tenant, request.session_id),
                tenant=request.tenant_name,
                title=ticket_title(request),
                body=ticket_body(request, item.idempotency_key),
                customer_email=request.customer.email,
                customer_name=request.customer.name,
                payload={"escalation_id": item.idempotency_key, **request.canonical()},
            )
        )
        return _Delivered(remote.id, remote)

    def _note(self, item: OutboxItem, context: _Context, target: _Delivered) -> _Delivered:
        note = write_note_once(
            self.adapter,
            target.external_id,
            marker(item.idempotency_key),
            note_text(context.request, context.previous, item.idempotency_key),
            look_first=item.attempts > 1,  # an earlier attempt may have added it before failing
        )
        return target.with_note(note.comment)

    def _record(self, item: OutboxItem, context: _Context, delivered: _Delivered) -> None:
        request = context.request
        opening = Opening(
            session_id=request.session_id,
            tenant=request.tenant_name,
            customer_name=request.customer.name,
            customer_email=request.customer.email,
        )

        def work(tx: Session) -> None:
            now = self.clock()
            ticket = record_delivery(
                tx,
                self.adapter.source,
                delivered.external_id,
                opening=opening,
                snapshot=delivered.snapshot,
                notes=delivered.notes,
                settings=self.settings,
                now=now,
            )
            escalation = tx.get(Escalation, item.idempotency_key)
            if escalation is not None:
                escalation.state, escalation.ticket_id = "delivered", ticket.id
                escalation.delivered_at, escalation.last_error = now, None
            outbox.complete(tx, item, now=now)

        write_with_retry(self.store, work, what=f"recording outbox row {item.id}")

    def _failed(self, item: OutboxItem, failure: Failure) -> RelayReport:
        with self.store.transaction() as tx:
            outcome = self.retrier.fail(tx, OUTBOX, item, failure)
            escalation = tx.get(Escalation, item.idempotency_key)
            if escalation is not None:
                escalation.last_error = failure.error
                if outcome == "dead":
                    escalation.state = "dead"
        log.warning("outbox row %s: %s (%s)", item.id, failure.error, outcome)
        return RelayReport(retried=1) if outcome == "retry" else RelayReport(dead=1)
