"""Tickets against the store: late context and drift (plain functions behind ``ticket_sync``).

* `missing_context`: for a ticket that is still open, the transcript messages and evidence its
  conversation's escalations gained *after* the ticket was created, minus what the ticket already
  shows (the relay's update notes carry most of it). `push_context` writes the rest as one bot
  note, marked with a hash of its content (``caseloop-context: …``, `ingestion.notes`), so it is
  written once however often sync runs.
* `drift`: a ticket the store mirrors that the ticketing system no longer has, or whose
  status differs from the mirror's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from sqlalchemy import or_, select

from ingestion import notes
from ingestion.schema import Escalation, Ticket
from ingestion.status import OPEN_STATUSES, mirror_status
from ingestion.store import Store
from ingestion.ticket_body import inert
from ingestion.ticketing import TicketingAdapter

NOTE_TITLE = "Conversation update from the chatbot"


@dataclass(frozen=True, slots=True)
class Drift:
    """One inconsistency between the store and the ticketing system."""

    ticket_id: int
    external_id: str
    kind: str  # missing_ticket | status_mismatch
    detail: str


def open_tickets(store: Store, source: str) -> list[int]:
    """Mirror ids of this source's tickets that are still open."""
    with store.transaction() as tx:
        query = select(Ticket.id).where(Ticket.source == source, Ticket.status.in_(OPEN_STATUSES))
        return list(tx.scalars(query.order_by(Ticket.id)))


def missing_context(store: Store, ticket_id: int) -> list[str]:
    """Lines (messages and evidence) added after the ticket was created, in time order."""
    with store.transaction() as tx:
        ticket = tx.get_one(Ticket, ticket_id)
        query = select(Escalation).where(
            or_(Escalation.ticket_id == ticket_id, Escalation.session_id == ticket.session_id)
        )
        escalations = list(tx.scalars(query.order_by(Escalation.created_at)))
        created = ticket.created_at
    lines: dict[str, str] = {}
    for escalation in escalations:
        payload = escalation.payload or {}
        for message in payload.get("transcript") or []:
            at = _time(message.get("at"))
            if at is not None and at > created and message.get("text"):
                lines.setdefault(f"m:{at.isoformat()}:{message['text']}", _message(message, at))
        for evidence in payload.get("evidence") or []:
            at = _time(evidence.get("retrieved_at"))
            if at is not None and at > created and evidence.get("doc_id"):
                lines.setdefault(f"e:{evidence['doc_id']}", _evidence(evidence, at))
    return [lines[k] for k in sorted(lines, key=lambda k: lines[k])]


def push_context(store: Store, adapter: TicketingAdapter, ticket_id: int) -> bool:
    """Write the missing context as one internal bot note, unless the ticket has it already."""
    lines = missing_context(store, ticket_id)
    if not lines:
        return False
    with store.transaction() as tx:
        external_id = tx.get_one(Ticket, ticket_id).external_id
    remote = adapter.get_ticket(external_id)
    bodies = [c.body for c in remote.comments]
    absent = [line for line in lines if not any(_core(line) in body for body in bodies)]
    if not absent:
        return False
    digest = hashlib.sha256("\n".join(absent).encode()).hexdigest()[:16]
    tag = notes.marker("context", digest)
    body = "\n".join([NOTE_TITLE, "", *absent, "", tag])
    return notes.add_note(store, adapter, ticket_id, remote, tag, body)


def drift(store: Store, adapter: TicketingAdapter, ticket_id: int) -> Drift | None:
    """Compare one mirrored ticket with the ticketing system."""
    from ingestion.adapters import TicketNotFound

    with store.transaction() as tx:
        ticket = tx.get_one(Ticket, ticket_id)
        external_id, status = ticket.external_id, ticket.status
    try:
        remote = adapter.get_ticket(external_id)
    except TicketNotFound:
        if status == "deleted":
            return None
        return Drift(ticket_id, external_id, "missing_ticket", f"mirror says {status}")
    remote_status = mirror_status(remote.status)
    if remote_status != status:
        detail = f"mirror {status}, ticketing system {remote.status}"
        return Drift(ticket_id, external_id, "status_mismatch", detail)
    return None


def _time(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _message(message: dict[str, str], at: dt.datetime) -> str:
    # Inert as in the ticket body, so the note is safe to render and `_core` matches both.
    return f"{at:%Y-%m-%d %H:%M} {message.get('role', 'unknown')}: {inert(message['text'])}"


def _evidence(evidence: dict[str, str], at: dt.datetime) -> str:
    title = inert(evidence.get("title") or "")
    return f"{at:%Y-%m-%d %H:%M} evidence {inert(evidence['doc_id'])} {title}".rstrip()


def _core(line: str) -> str:
    """The part of a line another note would contain verbatim (text or document id)."""
    rest = line.split(" ", 2)[2]
    if rest.startswith("evidence "):
        return rest.split(" ")[1]
    return rest.split(": ", 1)[1] if ": " in rest else rest
