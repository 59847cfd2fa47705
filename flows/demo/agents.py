"""Simulated agents working the helpdesk's queue through its real API (the ticketing adapter).

For each new ticket of the day an agent reads it, sometimes writes an internal note first (the
sample says which conversations get one), answers the customer with the data set's response as a
public reply, then resolves the ticket. The helpdesk sends its webhooks to the caseloop service
on each of these steps, exactly as it would for a person clicking in its UI.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from flows.demo.errors import DemoError
from flows.demo.sample import Conversation
from ingestion.tenancy import split_qualified
from ingestion.ticketing import RemoteTicket, TicketingAdapter


@dataclass(frozen=True, slots=True)
class Worked:
    """One ticket an agent handled."""

    ticket_id: str
    session_id: str
    note: str | None
    reply: str


class Agents:
    """The support team: works every open ticket of the queue that a demo conversation opened."""

    def __init__(self, adapter: TicketingAdapter, page_size: int = 50) -> None:
        self._adapter = adapter
        self._page_size = page_size
        self._done: set[str] = set()

    def queue(self, since: dt.datetime) -> list[RemoteTicket]:
        """Tickets changed since ``since`` that nobody has answered yet, oldest first."""
        out: list[RemoteTicket] = []
        cursor, after = since, None
        while True:
            page = self._adapter.list_updated_since(cursor, after, self._page_size)
            fresh = [t for t in page if (t.updated_at, t.id) != (cursor, after)]
            out.extend(
                t for t in fresh if t.id not in self._done and t.status in ("open", "reopened")
            )
            if len(page) < self._page_size or not fresh:
                return _unique(out)
            last = fresh[-1]
            cursor, after = last.updated_at or cursor, last.id

    def work(
        self,
        tickets: list[RemoteTicket],
        conversations: Mapping[str, Conversation],
        progress: Callable[[], None] = lambda: None,
    ) -> list[Worked]:
        """Answer and resolve each ticket whose conversation is known; others stay untouched."""
        worked: list[Worked] = []
        for ticket in tickets:
            qualified = ticket.external_conversation_id
            session = split_qualified(qualified)[1] if qualified else None
            conversation = conversations.get(session or "")
            if conversation is None or session is None:
                raise DemoError(
                    f"ticket {ticket.id} in the queue belongs to no demo conversation "
                    f"(external conversation id {qualified!r})"
                )
            worked.append(self._answer(ticket.id, session, conversation))
            progress()
        return worked

    def _answer(self, ticket_id: str, session_id: str, conversation: Conversation) -> Worked:
        if conversation.internal_note:
            self._adapter.add_comment(ticket_id, conversation.internal_note, public=False)
        self._adapter.add_comment(ticket_id, conversation.reply, public=True)
        self._adapter.set_status(ticket_id, "resolved")
        self._done.add(ticket_id)
        return Worked(ticket_id, session_id, conversation.internal_note, conversation.reply)


def _unique(tickets: list[RemoteTicket]) -> list[RemoteTicket]:
    seen: dict[str, RemoteTicket] = {}
    for ticket in tickets:
        seen.setdefault(ticket.id, ticket)
    return list(seen.values())
