"""The one update applier: a ticket snapshot in, mirror rows, events and outgoing messages out.

Webhooks (through the inbox worker), polling (the sync worker) and replays all call
`apply_snapshot` (or `apply_in` inside a transaction they own); the relay calls `record_delivery`
for the tickets it opens or adopts and the notes it writes, and the note writers call
`record_own_note`. Nothing else writes ticket state. Its effects on a ticket are:

* the status, moved only by a snapshot newer than the stored one (`ingestion.status.decide`),
  with a ``ticket_events`` row for every transition, whatever caused it;
* each comment mirrored once (``ticket_comments`` is unique per ticket and comment id); the notes
  caseloop writes itself are mirrored as the bot's (``author_role=bot``, internal) when written;
* each comment that the system explicitly marks customer-visible *and* an agent wrote becomes an
  outgoing message with a stable id (UUIDv5 of source, ticket and comment) and the next ``seq``
  of its session, in the same transaction as the comment row. Anything else (internal notes,
  unknown visibility, customers' and the bot's own comments) stays internal: default-deny.

Order-independence: statuses follow the total order of `SnapshotVersion`; comments are treated
as immutable and their union is what gets mirrored, new ones sorted by (created_at, id) so that
messages leave in the order agents wrote them. Snapshots of a ticket that caseloop did not open
(no ``tickets`` mirror row) are ignored.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from ingestion import outbox
from ingestion.errors import StoreError
from ingestion.schema import OutgoingMessage, Ticket, TicketComment, TicketEvent
from ingestion.settings import IngestionSettings
from ingestion.status import Transition, decide, is_expected, opened
from ingestion.store import Store
from ingestion.ticketing import RemoteComment, RemoteTicket

log = logging.getLogger(__name__)

#: Namespace of outgoing message ids: uuid5(MESSAGE_NAMESPACE, "source:ticket:comment").
MESSAGE_NAMESPACE = uuid.UUID("6f1c2a3e-4b5d-5e6f-8a9b-0c1d2e3f4a5b")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ATTEMPTS = 5
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What one snapshot changed."""

    known: bool  # False: no mirror row for this ticket, nothing was written
    ticket_id: int | None = None
    transition: Transition | None = None
    stale: bool = False  # older than (or equal to) the stored version: status left alone
    comments_mirrored: int = 0
    messages: tuple[str, ...] = ()  # ids of the outgoing messages created


@dataclass(frozen=True, slots=True)
class Opening:
    """What caseloop knows of a conversation's ticket before the ticketing system tells more."""

    session_id: str
    tenant: str
    customer_name: str | None = None
    customer_email: str | None = None


def message_id(source: str, ticket_external_id: str, comment_external_id: str) -> str:
    """The stable id of the outgoing message for one comment (the orchestrator dedupes on it)."""
    return str(
        uuid.uuid5(MESSAGE_NAMESPACE, f"{source}:{ticket_external_id}:{comment_external_id}")
    )


def is_forwardable(comment: RemoteComment) -> bool:
    """Default-deny: only explicitly public comments written by an agent reach the customer."""
    return comment.visibility == "public" and comment.author_role == "agent"


def _comment_order(comment: RemoteComment) -> tuple[dt.datetime, int, str]:
    number = int(comment.id) if comment.id.isdigit() else -1
    return (comment.created_at or _EPOCH, number, comment.id)


def write_with_retry(store: Store, work: Callable[[Session], T], *, what: str) -> T:
    """Run ``work`` in one transaction, redone on write conflicts (unique seq, deadlocks)."""
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with store.transaction() as session:
                return work(session)
        except (IntegrityError, OperationalError) as exc:
            # Two tickets of one session can race for the next seq on PostgreSQL; redo.
            if attempt == _ATTEMPTS:
                raise StoreError(f"{what} failed: {exc}") from exc
            log.info("write conflict in %s, retrying (%s)", what, attempt)
    raise AssertionError("unreachable")


def apply_snapshot(
    store: Store,
    source: str,
    remote: RemoteTicket,
    *,
    cause: str,
    settings: IngestionSettings,
    now: dt.datetime | None = None,
) -> ApplyResult:
    """Apply one snapshot in its own transaction (retried on write conflicts)."""
    return write_with_retry(
        store,
        lambda session: apply_in(session, source, remote, cause=cause, settings=settings, now=now),
        what=f"applying ticket {source}:{remote.id}",
    )


def apply_in(
    session: Session,
    source: str,
    remote: RemoteTicket,
    *,
    cause: str,
    settings: IngestionSettings,
    now: dt.datetime | None = None,
) -> ApplyResult:
    """Apply one snapshot inside ``session`` (the caller's transaction: cursor, inbox row…)."""
    now = now or dt.datetime.now(dt.UTC)
    ticket = _mirror_row(session, source, remote.id)
    if ticket is None:
        return ApplyResult(known=False)
    transition, newer = _apply_status(session, ticket, remote, cause=cause, now=now)
    ticket.synced_at = now
    mirrored, messages = _mirror_comments(session, ticket, remote.comments, settings, now)
    return ApplyResult(
        known=True,
        ticket_id=ticket.id,
        transition=transition,
        stale=not newer,
        comments_mirrored=mirrored,
        messages=tuple(messages),
    )


def record_delivery(
    session: Session,
    source: str,
    external_id: str,
    *,
    opening: Opening,
    snapshot: RemoteTicket | None,
    notes: Iterable[RemoteComment] = (),
    settings: IngestionSettings,
    now: dt.datetime,
) -> Ticket:
    """Record what the relay delivered, in the caller's transaction; the mirror row.

    A ticket the mirror does not know yet gets its row and its first event (``None`` → status);
    the ``snapshot`` the ticketing system answered with is then applied like any other (cause
    ``relay``), and ``notes`` (the relay's own) are mirrored as the bot's.
    """
    ticket = _mirror_row(session, source, external_id)
    if ticket is None:
        ticket = _open(session, source, external_id, opening, snapshot, now)
    if snapshot is not None:
        apply_in(session, source, snapshot, cause="relay", settings=settings, now=now)
    for note in notes:
        record_own_note(session, ticket.id, note, now=now)
    return ticket


def record_own_note(
    session: Session, ticket_row: int, comment: RemoteComment, *, now: dt.datetime
) -> None:
    """Mirror a note caseloop wrote as the bot's internal comment (never forwarded).

    When a webhook mirrored the comment first, its author is corrected to the bot.
    """
    row = session.scalars(
        select(TicketComment).where(
            TicketComment.ticket_id == ticket_row, TicketComment.external_id == comment.id
        )
    ).one_or_none()
    if row is not None:
        row.author_role = "bot"
        return
    session.add(
        TicketComment(
            ticket_id=ticket_row,
            external_id=comment.id[:100],
            author="caseloop",
            author_role="bot",
            visibility="internal",
            body=comment.body,
            created_at=comment.created_at or now,
            mirrored_at=now,
        )
    )


def adopt_snapshot(
    store: Store,
    source: str,
    remote: RemoteTicket,
    *,
    tenant: str,
    settings: IngestionSettings,
    now: dt.datetime | None = None,
) -> ApplyResult:
    """Mirror a ticket caseloop did not open (``origin=ticketing``) so learning can read it.

    Its description becomes the customer's opening comment; its comments are mirrored like any
    other, but no outgoing message is ever made (there is no conversation). Adopting a ticket
    the mirror already knows just applies the snapshot.
    """
    now = now or dt.datetime.now(dt.UTC)

    def work(session: Session) -> ApplyResult:
        if _mirror_row(session, source, remote.id) is None:
            _adopt(session, source, remote, tenant, now)
        return apply_in(session, source, remote, cause="learning", settings=settings, now=now)

    return write_with_retry(store, work, what=f"adopting ticket {source}:{remote.id}")


def _adopt(
    session: Session, source: str, remote: RemoteTicket, tenant: str, now: dt.datetime
) -> None:
    stamps = [c.created_at for c in remote.comments if c.created_at is not None]
    opened_at = min(stamps, default=remote.updated_at or now)
    first = opened(None)  # open; apply_in then records the move to the snapshot's status
    ticket = Ticket(
        source=source,
        external_id=remote.id,
        session_id=f"ticket:{source}:{remote.id}"[:200],
        tenant=tenant,
        url=remote.url,
        title=remote.title[:500],
        status=first.to_status,
        raw_status=None,
        customer_name=remote.customer_name,
        customer_email=remote.customer_email,
        created_at=opened_at,
        origin="ticketing",
    )
    session.add(ticket)
    session.flush()
    _record_event(session, ticket, first, cause="learning", occurred_at=opened_at, now=now)
    if remote.description and remote.description.strip():
        session.add(
            TicketComment(
                ticket_id=ticket.id,
                external_id="description",
                author=(remote.customer_email or "")[:200] or None,
                author_role="customer",
                visibility="public",
                body=remote.description,
                created_at=opened_at,
                mirrored_at=now,
            )
        )


def _mirror_row(session: Session, source: str, external_id: str) -> Ticket | None:
    return session.scalars(
        select(Ticket)
        .where(Ticket.source == source, Ticket.external_id == external_id)
        .with_for_update()
    ).one_or_none()


def _open(
    session: Session,
    source: str,
    external_id: str,
    opening: Opening,
    snapshot: RemoteTicket | None,
    now: dt.datetime,
) -> Ticket:
    first = opened(snapshot.status if snapshot else None)
    ticket = Ticket(
        source=source,
        external_id=external_id,
        session_id=opening.session_id,
        tenant=opening.tenant,
        url=snapshot.url if snapshot else None,
        title=snapshot.title[:500] if snapshot else None,
        status=first.to_status,
        raw_status=snapshot.raw_status[:50] if snapshot else None,
        customer_name=opening.customer_name,
        customer_email=opening.customer_email,
        created_at=now,
        origin="caseloop",
    )
    session.add(ticket)
    session.flush()
    _record_event(session, ticket, first, cause="relay", occurred_at=now, now=now)
    return ticket


def _record_event(
    session: Session,
    ticket: Ticket,
    transition: Transition,
    *,
    cause: str,
    occurred_at: dt.datetime | None,
    now: dt.datetime,
) -> None:
    session.add(
        TicketEvent(
            ticket_id=ticket.id,
            from_status=transition.from_status,
            to_status=transition.to_status,
            cause=cause[:40],
            occurred_at=occurred_at,
            recorded_at=now,
        )
    )


def _apply_status(
    session: Session, ticket: Ticket, remote: RemoteTicket, *, cause: str, now: dt.datetime
) -> tuple[Transition | None, bool]:
    transition, newer = decide(
        ticket.status, ticket.remote_updated_at, remote.status, remote.updated_at
    )
    if not newer:
        return None, False
    if remote.updated_at is not None:
        ticket.remote_updated_at = remote.updated_at
    ticket.raw_status = remote.raw_status[:50]
    ticket.title = remote.title[:500] or ticket.title
    ticket.url = remote.url or ticket.url
    if transition is None:
        return None, True
    ticket.status = transition.to_status
    _record_event(session, ticket, transition, cause=cause, occurred_at=remote.updated_at, now=now)
    if not is_expected(transition.from_status, transition.to_status):
        log.warning(
            "ticket %s:%s moved %s → %s (unusual, applied: the ticketing system is the truth)",
            ticket.source,
            ticket.external_id,
            transition.from_status,
            transition.to_status,
        )
    return transition, True


def _mirror_comments(
    session: Session,
    ticket: Ticket,
    comments: Iterable[RemoteComment],
    settings: IngestionSettings,
    now: dt.datetime,
) -> tuple[int, list[str]]:
    known = set(
        session.scalars(
            select(TicketComment.external_id).where(TicketComment.ticket_id == ticket.id)
        )
    )
    fresh = sorted((c for c in comments if c.id not in known), key=_comment_order)
    messages: list[str] = []
    next_seq: int | None = None
    for comment in fresh:
        if comment.id in known:
            continue  # the same id twice in one snapshot
        known.add(comment.id)
        row = TicketComment(
            ticket_id=ticket.id,
            external_id=comment.id[:100],
            author=(comment.author or None) and comment.author[:200],
            author_role=comment.author_role
            if comment.author_role in {"agent", "customer", "bot"}
            else "unknown",
            visibility="public" if comment.visibility == "public" else "internal",
            body=comment.body,
            created_at=comment.created_at,
            mirrored_at=now,
        )
        session.add(row)
        if ticket.origin != "caseloop" or not is_forwardable(comment):
            continue  # an adopted ticket has no conversation to forward to
        session.flush()  # the message references the comment row
        if next_seq is None:
            next_seq = _next_seq(session, ticket.tenant, ticket.session_id)
        messages.append(_add_message(session, ticket, row, next_seq, settings, now))
        next_seq += 1
    return len(fresh), messages


def _next_seq(session: Session, tenant: str, session_id: str) -> int:
    current = session.scalar(
        select(func.max(OutgoingMessage.seq)).where(
            OutgoingMessage.tenant == tenant, OutgoingMessage.session_id == session_id
        )
    )
    return int(current or 0) + 1


def _add_message(
    session: Session,
    ticket: Ticket,
    comment: TicketComment,
    seq: int,
    settings: IngestionSettings,
    now: dt.datetime,
) -> str:
    identifier = message_id(ticket.source, ticket.external_id, comment.external_id)
    pushing = bool(settings.orchestrator_url)
    session.add(
        OutgoingMessage(
            id=identifier,
            tenant=ticket.tenant,
            session_id=ticket.session_id,
            seq=seq,
            comment_id=comment.id,
            body=comment.body,
            author=comment.author,
            created_at=now,
            push_state="pending" if pushing else "off",
            push_attempts=0,
            next_push_at=now if pushing else None,
        )
    )
    if settings.bot_note_after_forward:
        outbox.enqueue(
            session,
            topic=outbox.TOPIC_BOT_NOTE,
            aggregate_id=f"note:{ticket.source}:{ticket.external_id}",  # never holds back an escalation
            idempotency_key=str(uuid.uuid5(uuid.NAMESPACE_URL, f"caseloop-note:{identifier}")),
            payload={"message_id": identifier, "seq": seq, "ticket_row": ticket.id},
            now=now,
        )
    return identifier
