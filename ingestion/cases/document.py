"""Case documents: what a resolved ticket teaches, read from the store and redacted.

The problem comes from the escalation payload (the customer's transcript messages, the
orchestrator's rolling summary and intent) and the customer's own comments on the ticket; the
resolution from the final customer-visible agent comments; metadata from the ticket and its
events. Personal data is redacted here, before anything is hashed, stored or indexed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ingestion.cases.redact import CaseTexts, Redaction, Redactor
from ingestion.schema import Escalation, Ticket, TicketComment, TicketEvent
from ingestion.status import RESOLVED_STATUSES

#: How many of the last customer-visible agent comments make up the resolution.
RESOLUTION_COMMENTS = 3


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Message(_Loose):
    role: str
    text: str


class _Context(_Loose):
    summary: str = ""
    intent: str | None = None


class _Customer(_Loose):
    name: str | None = None
    email: str | None = None


class _Evidence(_Loose):
    doc_id: str


class StoredPayload(_Loose):
    """The parts of a stored escalation payload that learning reads (validated on the way in)."""

    transcript: list[_Message] = []
    context: _Context = _Context()
    customer: _Customer = _Customer()
    evidence: list[_Evidence] = []


@dataclass(frozen=True, slots=True)
class CaseDocumentDraft:
    """A redacted case: problem, resolution, metadata; ``content_hash`` covers all three."""

    case_id: str
    ticket_id: int
    problem: str
    resolution: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def content_hash(self, summariser: str) -> str:
        """Identity of the learnable content (plus the summariser that will summarise it)."""
        body = json.dumps(
            [self.problem, self.resolution, self.metadata, summariser],
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(body.encode("utf-8")).hexdigest()

    @property
    def index_text(self) -> str:
        """What the retrievers index: the problem as the customer put it."""
        return index_text(self.problem, self.metadata)


def index_text(problem: str, metadata: dict[str, Any]) -> str:
    """What the retrievers index: the ticket title and the problem as the customer put it."""
    return f"{metadata.get('title') or ''}\n{problem}".strip()


def case_id_of(ticket: Ticket) -> str:
    """The case id: the ticket's identity in its ticketing system (stable across versions)."""
    return f"{ticket.source}:{ticket.external_id}"


def resolution_comments(comments: Sequence[TicketComment]) -> list[TicketComment]:
    """The final customer-visible agent comments, oldest first."""
    public = [c for c in comments if c.visibility == "public" and c.author_role == "agent"]
    return public[-RESOLUTION_COMMENTS:]


@dataclass(frozen=True, slots=True)
class CaseSource:
    """The store rows a case is built from (read in one short transaction)."""

    ticket: Ticket
    comments: list[TicketComment]
    escalations: list[Escalation]
    resolved_at: dt.datetime | None


def read_source(session: Session, ticket: Ticket) -> CaseSource:
    """Read what `draft_of` needs; the rows stay usable after the transaction ends."""
    return read_sources(session, [ticket])[ticket.id]


def read_sources(session: Session, tickets: Sequence[Ticket]) -> dict[int, CaseSource]:
    """`read_source` for each ticket (by id), in four queries for all of them."""
    ids = [t.id for t in tickets]
    comments: dict[int, list[TicketComment]] = defaultdict(list)
    for comment in session.scalars(select(TicketComment).where(TicketComment.ticket_id.in_(ids))):
        comments[comment.ticket_id].append(comment)
    escalations = _escalations(session, tickets)
    resolved: dict[int, dt.datetime | None] = {}
    events = (
        select(TicketEvent)
        .where(TicketEvent.ticket_id.in_(ids), TicketEvent.to_status.in_(RESOLVED_STATUSES))
        .order_by(TicketEvent.recorded_at.desc(), TicketEvent.id.desc())
    )
    for event in session.scalars(events):  # the latest resolve of each ticket comes first
        resolved.setdefault(event.ticket_id, event.occurred_at or event.recorded_at)
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    return {
        t.id: CaseSource(
            ticket=t,
            comments=sorted(
                comments[t.id], key=lambda c: (c.created_at or c.mirrored_at or epoch, c.id)
            ),
            escalations=escalations[t.id],
            resolved_at=resolved.get(t.id, t.remote_updated_at),
        )
        for t in tickets
    }


def build_draft(session: Session, ticket: Ticket, redactor: Redactor) -> CaseDocumentDraft | None:
    """The redacted case of ``ticket``, or None when it has no customer-visible agent comment."""
    return draft_of(read_source(session, ticket), redactor)


def draft_of(source: CaseSource, redactor: Redactor) -> CaseDocumentDraft | None:
    """Build and redact the case (no database access: runs outside any transaction)."""
    return drafts_of([source], redactor)[0]


def drafts_of(sources: Sequence[CaseSource], redactor: Redactor) -> list[CaseDocumentDraft | None]:
    """`draft_of` for each source, in order, with one redaction call for all of them."""
    texts = [_case_texts(source) for source in sources]
    redactions = iter(redactor.redact_many([t for t in texts if t is not None]))
    return [
        None if t is None else _draft(source, next(redactions))
        for source, t in zip(sources, texts, strict=True)
    ]


def _case_texts(source: CaseSource) -> CaseTexts | None:
    """Problem, resolution and title with the customer's known names and addresses (None: no
    customer-visible agent comment, nothing to learn)."""
    ticket, comments, escalations = source.ticket, source.comments, source.escalations
    answer = resolution_comments(comments)
    if not answer:
        return None
    payloads = [_payload(e) for e in escalations]
    names = {p.customer.name for p in payloads} | {ticket.customer_name}
    emails = {p.customer.email for p in payloads} | {ticket.customer_email}
    problem = _problem(payloads, escalations, comments)
    resolution = "\n\n".join(c.body.strip() for c in answer)
    # One redaction for the whole case: a name found in the problem is also replaced in the answer.
    return CaseTexts((problem, resolution, ticket.title or ""), names, emails)


def _draft(source: CaseSource, redaction: Redaction) -> CaseDocumentDraft:
    ticket = source.ticket
    clean_problem, clean_resolution, clean_title = redaction.texts
    payloads = [_payload(e) for e in source.escalations]
    return CaseDocumentDraft(
        case_id=case_id_of(ticket),
        ticket_id=ticket.id,
        problem=clean_problem,
        resolution=clean_resolution,
        metadata={
            "title": clean_title,
            **_metadata(source, payloads, resolution_comments(source.comments)),
        },
    )


def _escalations(session: Session, tickets: Sequence[Ticket]) -> dict[int, list[Escalation]]:
    """Each ticket's escalations, oldest first; a ticket none links to (its link was not
    written back) gets its session's."""
    found: dict[int, list[Escalation]] = defaultdict(list)
    query = select(Escalation).order_by(Escalation.created_at, Escalation.id)
    for row in session.scalars(query.where(Escalation.ticket_id.in_([t.id for t in tickets]))):
        if row.ticket_id is not None:
            found[row.ticket_id].append(row)
    unlinked: dict[str, list[int]] = defaultdict(list)
    for ticket in tickets:
        if not found[ticket.id]:
            unlinked[ticket.session_id].append(ticket.id)
    if unlinked:
        for row in session.scalars(query.where(Escalation.session_id.in_(list(unlinked)))):
            for ticket_id in unlinked[row.session_id]:
                found[ticket_id].append(row)
    return found


def _payload(escalation: Escalation) -> StoredPayload:
    try:
        return StoredPayload.model_validate(escalation.payload or {})
    except ValidationError:
        return StoredPayload()  # an unreadable payload teaches nothing but must not stop learning


def _problem(
    payloads: Sequence[StoredPayload],
    escalations: Sequence[Escalation],
    comments: Sequence[TicketComment],
) -> str:
    seen: set[str] = set()
    lines: list[str] = []

    def add(text: str) -> None:
        text = " ".join(text.split())
        if text and text not in seen:
            seen.add(text)
            lines.append(text)

    for payload in payloads:
        for message in payload.transcript:
            if message.role == "customer":
                add(message.text)
    for comment in comments:
        if comment.author_role == "customer" and comment.visibility == "public":
            add(comment.body)
    summaries = [p.context.summary for p in payloads if p.context.summary.strip()]
    if summaries:
        add(f"Summary: {summaries[-1]}")
    intents = [p.context.intent or e.intent for p, e in zip(payloads, escalations, strict=True)]
    if intent := next((i for i in reversed(intents) if i), None):
        add(f"Intent: {intent}")
    return "\n".join(lines)


def _metadata(
    source: CaseSource, payloads: Sequence[StoredPayload], answer: Sequence[TicketComment]
) -> dict[str, Any]:
    ticket, escalations, comments = source.ticket, source.escalations, source.comments
    resolved_at = source.resolved_at
    opened = escalations[0].created_at if escalations else ticket.created_at
    first_reply = next((c.created_at for c in comments if c in answer or _is_reply(c)), None)
    intents = [e.intent for e in escalations if e.intent]
    return {
        "tenant": ticket.tenant,
        "source": ticket.source,
        "ticket": ticket.external_id,
        "ticket_url": ticket.url,
        "intent": intents[-1] if intents else None,
        "reason": escalations[-1].reason if escalations else None,
        "evidence_ids": sorted({e.doc_id for p in payloads for e in p.evidence}),
        "resolved_at": resolved_at.isoformat() if resolved_at else None,
        "first_reply_seconds": _seconds(opened, first_reply),
        "resolution_seconds": _seconds(opened, resolved_at),
    }


def _is_reply(comment: TicketComment) -> bool:
    return comment.visibility == "public" and comment.author_role == "agent"


def _resolved_at(session: Session, ticket: Ticket) -> dt.datetime | None:
    query = (
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket.id, TicketEvent.to_status.in_(RESOLVED_STATUSES))
        .order_by(TicketEvent.recorded_at.desc(), TicketEvent.id.desc())
        .limit(1)
    )
    event = session.scalars(query).first()
    if event is None:
        return ticket.remote_updated_at
    return event.occurred_at or event.recorded_at


def _seconds(start: dt.datetime | None, end: dt.datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, int((end - start).total_seconds()))
