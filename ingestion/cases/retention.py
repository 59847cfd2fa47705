"""Retention of raw conversation text: after a ticket has been resolved for
``retention_raw_days``, every raw text the store holds for it is replaced by its redacted form.

What learning needs has already been redacted into ``case_summaries``; what evaluation needs
(ids, statuses, reasons, timestamps, counts, comment roles and visibility) is kept. Per ticket,
in one transaction (`purge`):

* ``escalations.payload`` and ``outbox.payload`` of its session: every string redacted, the
  customer's name and e-mail removed (the payload's shape stays, so learning still reads it);
* ``tickets``: title redacted, customer name and e-mail removed, ``purged_at`` set;
* ``ticket_comments.body`` redacted (a customer's ``author`` removed) and
  ``outgoing_messages.body`` redacted;
* ``webhook_deliveries`` of the ticket that were processed: raw body and headers emptied.

Redaction is `ingestion.cases.redact` (the one entry point), with the ticket's known names and
e-mails. A purged ticket is not purged again (a second purge changes nothing); one whose
``purged_at`` is older than its latest event (reopened and resolved again) is purged again.

`erase` is the same purge for one customer, now, whatever the tickets' age (a data subject's
request for erasure): every ticket of theirs that is no longer open, and the escalations of
theirs the relay gave up on (``dead``, no ticket). Their open tickets and the escalations still
waiting for the relay are left as they are and counted: the conversation still needs them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ingestion.cases.redact import Redactor, build_redactor
from ingestion.clock import utcnow
from ingestion.errors import InvalidErasure
from ingestion.escalations import EMAIL_PATTERN
from ingestion.schema import (
    Escalation,
    OutboxRow,
    OutgoingMessage,
    Ticket,
    TicketComment,
    TicketEvent,
    WebhookDelivery,
)
from ingestion.settings import IngestionSettings
from ingestion.status import OPEN_STATUSES, RESOLVED_STATUSES
from ingestion.store import Store

_Setter = Callable[[str], None]

#: JSON keys whose strings are identifiers, codes or times, never conversation text: kept as
#: they are (evaluation groups by them; a timestamp must not read as a date of birth).
CODE_KEYS = frozenset(
    {
        "at",
        "channel",
        "created_at",
        "doc_id",
        "escalation_event_id",
        "escalation_id",
        "id",
        "intent",
        "kind",
        "language",
        "locale",
        "previous_escalation_id",
        "reason",
        "role",
        "session_id",
        "tenant",
    }
)


@dataclass(slots=True)
class PurgeReport:
    """What a purge changed (or would change, ``dry_run``): rows per table, never values.

    Erasure only: ``escalations`` counts undelivered escalations purged; ``open`` (tickets) and
    ``waiting`` (escalations the relay has yet to deliver) what was left for a later erasure.
    """

    dry_run: bool
    tickets: int = 0
    rows: Counter[str] = field(default_factory=Counter)
    action: Literal["retention", "erasure"] = "retention"
    escalations: int = 0
    open: int = 0
    waiting: int = 0

    def line(self) -> str:
        """One line for logs and the CLI."""
        verb = "would purge" if self.dry_run else "purged"
        tables = ", ".join(f"{t} {n}" for t, n in sorted(self.rows.items())) or "nothing"
        dead = f" and {self.escalations} undelivered escalations" if self.escalations else ""
        line = f"{self.action}: {verb} {self.tickets} tickets{dead} ({tables})"
        if self.open or self.waiting:
            line += (
                f"; left: {self.open} open tickets, {self.waiting} escalations awaiting delivery"
                " (erase again once resolved)"
            )
        return line

    def to_dict(self) -> dict[str, Any]:
        """Counts for the learning run's report (retention; erasure only prints its line)."""
        return {"dry_run": self.dry_run, "tickets": self.tickets, "rows": dict(self.rows)}


def purge(
    store: Store,
    settings: IngestionSettings,
    *,
    dry_run: bool = False,
    now: dt.datetime | None = None,
    redactor: Redactor | None = None,
) -> PurgeReport:
    """Redact the raw text of tickets resolved more than ``retention_raw_days`` ago.

    ``retention_raw_days`` 0 keeps everything (nothing is read). ``dry_run`` counts the rows
    that would change and writes nothing.
    """
    report = PurgeReport(dry_run=dry_run)
    days = settings.retention_raw_days
    if not days:
        return report
    cutoff = (now or utcnow()) - dt.timedelta(days=days)
    with store.transaction() as session:
        due = _due(session, cutoff)
    if not due:
        return report
    redactor = redactor or build_redactor(settings)
    for ticket_id in due:
        report.tickets += _apply(store, report, _purge_ticket, ticket_id, redactor, now, dry_run)
    return report


def _apply(
    store: Store, report: PurgeReport, purge_one: Callable[..., Counter[str]], *args: Any
) -> int:
    """Run ``purge_one(session, *args)`` in its own transaction (rolled back on a dry run);
    its row counts go into ``report``; 1 if it changed anything."""
    with store.transaction() as session:
        changed = purge_one(session, *args)
        if report.dry_run:
            session.rollback()
    report.rows.update(changed)
    return 1 if changed else 0


def erase(
    store: Store,
    settings: IngestionSettings,
    *,
    email: str,
    dry_run: bool = False,
    now: dt.datetime | None = None,
    redactor: Redactor | None = None,
) -> PurgeReport:
    """Redact now every raw text the store holds about the customer with ``email``.

    Their tickets no longer open (resolved, closed, deleted) are purged as retention purges
    them, and their ``dead`` escalations (never a ticket) have their payload redacted. Their
    open tickets and the escalations still waiting for the relay are left and counted
    (``open``, ``waiting``): the conversation still needs them, and they keep the address, so
    erasing again once they are resolved finds them. Raises `InvalidErasure` if ``email`` is
    not an e-mail address. ``dry_run`` counts and writes nothing.
    """
    address = erasure_address(email)
    report = PurgeReport(dry_run=dry_run, action="erasure")
    with store.transaction() as session:
        found = _customer_records(session, address)
    report.open, report.waiting = len(found.open_tickets), len(found.waiting)
    if not found.tickets and not found.dead:
        return report
    redactor = redactor or build_redactor(settings)
    for ticket_id in found.tickets:
        report.tickets += _apply(
            store, report, _purge_ticket, ticket_id, redactor, now, dry_run, found.names
        )
    for escalation_id in found.dead:
        report.escalations += _apply(
            store, report, _purge_undelivered, escalation_id, redactor, found.names
        )
    return report


def erasure_address(email: str) -> str:
    """``email`` as erasure compares it (trimmed, lower case); `InvalidErasure` if malformed."""
    address = email.strip().lower()
    if not re.fullmatch(EMAIL_PATTERN, address):
        raise InvalidErasure("give the customer's e-mail address (name@domain)")
    return address


@dataclass(frozen=True, slots=True)
class _CustomerRecords:
    """What the store holds about one customer, by what erasure does with it."""

    tickets: list[int]  # to purge: no longer open
    open_tickets: list[int]  # left: the conversation goes on
    dead: list[str]  # escalations the relay gave up on (no ticket): to purge
    waiting: list[str]  # escalations the relay has yet to deliver: left
    names: frozenset[str]  # every name the store holds for the address


def _customer_records(session: Session, address: str) -> _CustomerRecords:
    """The customer's tickets (by their e-mail, or by an escalation of theirs that became or
    joined the ticket), their undelivered escalations and every name known for them."""
    customer = Escalation.payload["customer"]
    escalations = session.scalars(
        select(Escalation)
        .where(func.lower(func.trim(customer["email"].as_string())) == address)
        .order_by(Escalation.id)
    ).all()
    linked = {row.ticket_id for row in escalations if row.ticket_id is not None}
    tickets = session.scalars(
        select(Ticket)
        .where(or_(func.lower(func.trim(Ticket.customer_email)) == address, Ticket.id.in_(linked)))
        .order_by(Ticket.id)
    ).all()
    names = {ticket.customer_name for ticket in tickets}
    names |= {row.payload["customer"].get("name") for row in escalations}
    purged = [ticket for ticket in tickets if ticket.status not in OPEN_STATUSES]
    # A ticket's purge also redacts every escalation of its conversation (`_purge_ticket`).
    covered = {(ticket.session_id, ticket.tenant) for ticket in purged}
    undelivered = [
        row
        for row in escalations
        if row.ticket_id is None and (row.session_id, row.tenant) not in covered
    ]
    return _CustomerRecords(
        tickets=[ticket.id for ticket in purged],
        open_tickets=[ticket.id for ticket in tickets if ticket.status in OPEN_STATUSES],
        dead=[row.id for row in undelivered if row.state == "dead"],
        waiting=[row.id for row in undelivered if row.state != "dead"],
        names=frozenset(str(name) for name in names if name),
    )


def _purge_undelivered(
    session: Session, escalation_id: str, redactor: Redactor, known: frozenset[str]
) -> Counter[str]:
    """Redact an escalation that never became a ticket (its outbox row holds only its id)."""
    escalation = session.get_one(Escalation, escalation_id)
    customer = (escalation.payload or {}).get("customer") or {}
    texts = _escalation_texts(escalation)
    changed = _redact_all(texts, redactor, {*known}, {customer.get("email")})
    if _forget_customer(escalation):
        changed["escalations"] += 1
    return changed


def _due(session: Session, cutoff: dt.datetime) -> list[int]:
    """Resolved tickets whose last event is older than ``cutoff`` and not purged since."""
    last = (
        select(TicketEvent.ticket_id, func.max(TicketEvent.recorded_at).label("at"))
        .group_by(TicketEvent.ticket_id)
        .subquery()
    )
    query = (
        select(Ticket.id)
        .join(last, last.c.ticket_id == Ticket.id)
        .where(
            Ticket.status.in_(RESOLVED_STATUSES),
            last.c.at <= cutoff,
            or_(Ticket.purged_at.is_(None), Ticket.purged_at < last.c.at),
        )
        .order_by(Ticket.id)
    )
    return list(session.scalars(query))


def _purge_ticket(
    session: Session,
    ticket_id: int,
    redactor: Redactor,
    now: dt.datetime | None,
    dry_run: bool,
    known: frozenset[str] = frozenset(),
) -> Counter[str]:
    """Purge one ticket; ``known`` adds names of its customer found elsewhere (erasure)."""
    ticket = session.get_one(Ticket, ticket_id)
    escalations = session.scalars(
        select(Escalation).where(
            or_(
                Escalation.ticket_id == ticket.id,
                (Escalation.session_id == ticket.session_id) & (Escalation.tenant == ticket.tenant),
            )
        )
    ).all()
    names = {ticket.customer_name, *known}
    emails = {ticket.customer_email}
    for escalation in escalations:
        customer = (escalation.payload or {}).get("customer") or {}
        names.add(customer.get("name"))
        emails.add(customer.get("email"))
    texts: list[tuple[str, str, _Setter]] = []  # (table, raw text, how to store its redaction)
    for escalation in escalations:
        texts += _escalation_texts(escalation)
    outbox = session.scalars(select(OutboxRow).where(OutboxRow.aggregate_id == ticket.session_id))
    for row in outbox:
        texts += _json_texts("outbox", row, "payload")
        if row.last_error:  # what the ticketing system answered may quote the payload
            texts.append(("outbox", row.last_error, _setter(row, "last_error")))
    comments = session.scalars(
        select(TicketComment).where(TicketComment.ticket_id == ticket.id)
    ).all()
    for comment in comments:
        texts.append(("ticket_comments", comment.body, _setter(comment, "body")))
    messages = session.scalars(
        select(OutgoingMessage).where(OutgoingMessage.comment_id.in_([c.id for c in comments]))
    )
    for message in messages:
        texts.append(("outgoing_messages", message.body, _setter(message, "body")))
    if ticket.title:
        texts.append(("tickets", ticket.title, _setter(ticket, "title")))
    changed = _redact_all(texts, redactor, names, emails)
    changed.update(_forget_people(ticket, escalations, comments))
    changed.update(_empty_deliveries(session, ticket))
    if not dry_run:
        ticket.purged_at = now or utcnow()
    return changed


def _redact_all(
    texts: list[tuple[str, str, _Setter]],
    redactor: Redactor,
    names: set[str | None],
    emails: set[str | None],
) -> Counter[str]:
    """One redaction call per ticket (a name found anywhere is replaced everywhere)."""
    changed: Counter[str] = Counter()
    if not texts:
        return changed
    clean = redactor.redact(
        [raw for _, raw, _ in texts],
        customer_name={n for n in names if n},
        customer_email={e for e in emails if e},
    ).texts
    for (table, raw, store), redacted in zip(texts, clean, strict=True):
        if redacted != raw:
            store(redacted)
            changed[table] += 1
    return changed


def _forget_people(
    ticket: Ticket, escalations: Sequence[Escalation], comments: Sequence[TicketComment]
) -> Counter[str]:
    changed: Counter[str] = Counter()
    if ticket.customer_name or ticket.customer_email:
        ticket.customer_name = ticket.customer_email = None
        changed["tickets"] += 1
    for escalation in escalations:
        if _forget_customer(escalation):
            changed["escalations"] += 1
    for comment in comments:
        if comment.author_role == "customer" and comment.author:
            comment.author = None
            changed["ticket_comments"] += 1
    return changed


def _escalation_texts(escalation: Escalation) -> list[tuple[str, str, _Setter]]:
    """The payload's texts and the relay's last error (a ticketing answer may quote them)."""
    texts = _json_texts("escalations", escalation, "payload")
    if escalation.last_error:
        texts.append(("escalations", escalation.last_error, _setter(escalation, "last_error")))
    return texts


def _forget_customer(escalation: Escalation) -> bool:
    """Empty the payload's ``customer``; whether there was anything to empty."""
    payload = dict(escalation.payload or {})
    if not any((payload.get("customer") or {}).values()):
        return False
    payload["customer"] = {}
    escalation.payload = payload
    return True


def _empty_deliveries(session: Session, ticket: Ticket) -> Counter[str]:
    rows = session.scalars(
        select(WebhookDelivery).where(
            WebhookDelivery.source == ticket.source,
            WebhookDelivery.ticket_external_id == ticket.external_id,
            WebhookDelivery.state == "processed",
        )
    )
    changed: Counter[str] = Counter()
    for row in rows:
        if row.body or row.headers:
            row.body, row.headers = b"", {}
            changed["webhook_deliveries"] += 1
    return changed


def _setter(row: Any, attribute: str) -> _Setter:
    return lambda value: setattr(row, attribute, value)


def _json_texts(table: str, row: Any, attribute: str) -> list[tuple[str, str, _Setter]]:
    """Every string leaf of a JSON column, with a setter that writes a new copy of the
    document (JSON columns only notice a replaced value, not an edit in place)."""
    found: list[tuple[str, str, _Setter]] = []
    for path, text in _leaves(getattr(row, attribute) or {}, ()):
        if path and path[-1] in CODE_KEYS:
            continue
        found.append((table, text, _json_setter(row, attribute, path)))
    return found


def _leaves(value: Any, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for number, item in enumerate(value):
            yield from _leaves(item, (*path, number))


def _json_setter(row: Any, attribute: str, path: tuple[Any, ...]) -> _Setter:
    def store(text: str) -> None:
        document = _copy(getattr(row, attribute))
        target = document
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = text
        setattr(row, attribute, document)

    return store


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
