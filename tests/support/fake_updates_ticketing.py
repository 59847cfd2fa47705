"""An in-memory ticketing system for the updates tests (applier, sync cursor, inbox worker).

It keeps the adapter contract (`ingestion.ticketing.TicketingAdapter`) with a controllable clock,
so tests can put many tickets on one ``updated_at``, inject 429s and count calls. Every behaviour
tested with it is also tested against the real django-helpdesk in ``test_updates_e2e.py``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools

from ingestion.applier import apply_snapshot
from ingestion.errors import TicketingRejected, TicketingUnavailable
from ingestion.schema import Ticket
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from ingestion.ticketing import (
    Capabilities,
    NewTicket,
    RemoteComment,
    RemoteTicket,
    TicketStatus,
)

T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def id_order(ticket_id: str) -> tuple[int, int, str]:
    """Numeric ids in numeric order, others after them in text order (as the sync worker)."""
    return (0, int(ticket_id), "") if ticket_id.isdigit() else (1, 0, ticket_id)


class FakeTicketing:
    """Tickets in a dict; ``now`` is set by the test (default: T0 plus one second per change)."""

    capabilities = Capabilities(
        webhooks=True, server_side_updated_since=True, idempotency_key_header=False
    )

    def __init__(self, source: str = "fake") -> None:
        self.source = source
        self.tickets: dict[str, RemoteTicket] = {}
        self.now: dt.datetime | None = None
        self.calls: list[str] = []
        self.failures: list[Exception] = []  # raised, one per call, before doing anything
        self._ids = itertools.count(1)
        self._comment_ids = itertools.count(1)
        self._tick = itertools.count(1)

    def _time(self) -> dt.datetime:
        return self.now or T0 + dt.timedelta(seconds=next(self._tick))

    def _enter(self, name: str) -> None:
        self.calls.append(name)
        if self.failures:
            raise self.failures.pop(0)

    def throttle(self, retry_after: float) -> None:
        """The next call answers like a 429 with Retry-After."""
        self.failures.append(TicketingUnavailable("429 Too Many Requests", retry_after=retry_after))

    # --- the adapter protocol -------------------------------------------------------------
    def create_ticket(self, ticket: NewTicket) -> RemoteTicket:
        self._enter("create_ticket")
        ticket_id = str(next(self._ids))
        remote = RemoteTicket(
            id=ticket_id,
            status="open",
            raw_status="1",
            title=ticket.title,
            external_conversation_id=ticket.external_conversation_id,
            updated_at=self._time(),
        )
        self.tickets[ticket_id] = remote
        return remote

    def find_by_conversation(self, conversation_id: str) -> RemoteTicket | None:
        self._enter("find_by_conversation")
        found = [t for t in self.tickets.values() if t.external_conversation_id == conversation_id]
        return max(found, key=lambda t: id_order(t.id)) if found else None

    def add_comment(self, ticket_id: str, body: str, *, public: bool) -> RemoteComment:
        self._enter("add_comment")
        return self.comment(ticket_id, body, public=public, role="bot")

    def set_status(self, ticket_id: str, status: TicketStatus) -> None:
        self._enter("set_status")
        self._update(ticket_id, status=status, raw_status=status)

    def get_ticket(self, ticket_id: str) -> RemoteTicket:
        self._enter("get_ticket")
        if ticket_id not in self.tickets:
            raise TicketingRejected(f"ticket {ticket_id} does not exist")
        return self.tickets[ticket_id]

    def list_updated_since(
        self, since: dt.datetime, after_id: str | None, limit: int
    ) -> list[RemoteTicket]:
        self._enter("list_updated_since")
        start = (since, id_order(after_id) if after_id is not None else (-1, 0, ""))
        rows = [
            t
            for t in self.tickets.values()
            if t.updated_at is not None and (t.updated_at, id_order(t.id)) >= start
        ]
        rows.sort(key=lambda t: (t.updated_at, id_order(t.id)))
        return rows[:limit]

    def close(self) -> None:
        self.calls.append("close")

    # --- what agents do in the ticketing system -------------------------------------------
    def comment(
        self, ticket_id: str, body: str, *, public: bool, role: str = "agent"
    ) -> RemoteComment:
        """An agent (or ``role``) writes a follow-up; the ticket's updated_at moves."""
        when = self._time()
        comment = RemoteComment(
            id=str(next(self._comment_ids)),
            body=body,
            visibility="public" if public else "internal",
            author=f"{role}@example.test",
            author_role=role,  # type: ignore[arg-type]
            created_at=when,
        )
        ticket = self.tickets[ticket_id]
        self.tickets[ticket_id] = dataclasses.replace(
            ticket, comments=(*ticket.comments, comment), updated_at=when
        )
        return comment

    def _update(self, ticket_id: str, **changes: object) -> None:
        ticket = self.tickets[ticket_id]
        self.tickets[ticket_id] = dataclasses.replace(ticket, updated_at=self._time(), **changes)  # type: ignore[arg-type]


def mirror_ticket(
    store: Store,
    source: str,
    external_id: str,
    session_id: str,
    *,
    status: str = "escalated",
    tenant: str = "acme",
) -> int:
    """Write the ``tickets`` mirror row the relay writes when it creates a ticket; its id."""
    with store.transaction() as session:
        row = Ticket(
            source=source,
            external_id=external_id,
            session_id=session_id,
            tenant=tenant,
            status=status,
            created_at=dt.datetime.now(dt.UTC),
        )
        session.add(row)
        session.flush()
        return row.id


def seed_replies(
    store: Store, settings: IngestionSettings, replies: dict[str, int]
) -> FakeTicketing:
    """One ticket per session with that many public agent replies, applied."""
    fake = FakeTicketing()
    for session_id, count in replies.items():
        remote = fake.create_ticket(NewTicket(session_id, session_id, "acme", "t", "b"))
        mirror_ticket(store, "fake", remote.id, session_id)
        for n in range(count):
            fake.comment(remote.id, f"{session_id} reply {n + 1}", public=True)
        apply_snapshot(store, "fake", fake.tickets[remote.id], cause="poll", settings=settings)
    return fake
