"""The messages read model: customer-visible agent replies, as the orchestrator reads them.

Outgoing messages are written by the update applier (stable id = UUIDv5 of source, ticket and
comment; ``seq`` per session). The orchestrator gets them in two ways, and dedupes on the id:

* pull: `list_messages` behind ``GET /sessions/{session_id}/messages?after=<seq or message id>``;
* push: `ingestion.pusher.Pusher` POSTs each one to ``orchestrator_url`` (it reads them here).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from sqlalchemy import Select, select

from ingestion.errors import NotFound
from ingestion.schema import OutgoingMessage, Ticket, TicketComment
from ingestion.store import Store
from ingestion.tenancy import DEFAULT_TENANT


@dataclass(frozen=True, slots=True)
class Message:
    """One customer-visible agent reply on its way to the session."""

    id: str
    session_id: str
    seq: int
    body: str
    author: str | None
    created_at: str  # ISO 8601, UTC
    ticket_source: str
    ticket_id: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def message_of(
    row: OutgoingMessage, source: str, ticket_id: str, written_at: dt.datetime | None = None
) -> Message:
    """The message of an ``outgoing_messages`` row and its ticket (``written_at``: the comment's time)."""
    return Message(
        id=row.id,
        session_id=row.session_id,
        seq=row.seq,
        body=row.body,
        author=row.author,
        # when the agent wrote it; the row's own time (when it was mirrored) is the queue's clock
        created_at=(written_at or row.created_at).isoformat(),
        ticket_source=source,
        ticket_id=ticket_id,
    )


def _base_query() -> Select[tuple[OutgoingMessage, str, str, dt.datetime | None]]:
    return (
        select(OutgoingMessage, Ticket.source, Ticket.external_id, TicketComment.created_at)
        .join(TicketComment, TicketComment.id == OutgoingMessage.comment_id)
        .join(Ticket, Ticket.id == TicketComment.ticket_id)
    )


def read_messages(store: Store, ids: list[str]) -> list[Message]:
    """The messages with these ids (those that exist)."""
    if not ids:
        return []
    with store.transaction() as session:
        rows = session.execute(_base_query().where(OutgoingMessage.id.in_(ids))).all()
        return [message_of(*row) for row in rows]


def list_messages(
    store: Store,
    session_id: str,
    *,
    after: str | None = None,
    limit: int = 200,
    tenant: str = DEFAULT_TENANT,
) -> list[Message]:
    """Messages of ``tenant``'s session after ``after`` (a seq or a message id), oldest first.

    Raises `NotFound` when ``after`` names a message id this session does not have.
    """
    return page_messages(store, session_id, after=after, limit=limit, tenant=tenant)[0]


def page_messages(
    store: Store,
    session_id: str,
    *,
    after: str | None = None,
    limit: int = 200,
    tenant: str = DEFAULT_TENANT,
) -> tuple[list[Message], int]:
    """`list_messages` and the seq to ask after next time (``after``'s own when nothing is newer)."""
    mine = (OutgoingMessage.tenant == tenant, OutgoingMessage.session_id == session_id)
    with store.transaction() as session:
        floor = 0
        if after and after.isdigit():
            floor = int(after)
        elif after:
            seq = session.scalar(
                select(OutgoingMessage.seq).where(OutgoingMessage.id == after, *mine)
            )
            if seq is None:
                raise NotFound("after: no such message in this session")
            floor = seq
        rows = session.execute(
            _base_query()
            .where(*mine, OutgoingMessage.seq > floor)
            .order_by(OutgoingMessage.seq)
            .limit(limit)
        ).all()
        messages = [message_of(*row) for row in rows]
        return messages, messages[-1].seq if messages else floor
