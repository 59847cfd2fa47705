"""An in-memory ticketing system with scripted faults, and escalation payloads for tests.

The fake is used where a test needs thousands of deliveries in a second (the property test) or a
fault the real helpdesk cannot produce on demand (429 with Retry-After); every behaviour it
stands in for is also tested against the real django-helpdesk.

Faults (`inject`) apply to the next write calls (create, comment) in order:
``"down"`` fails before writing, ``"after"`` writes then fails (500 after commit),
``"rejected"`` is a permanent error, ``"retry_after:N"`` is a 429 asking for N seconds.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Any

from ingestion.errors import TicketingRejected, TicketingUnavailable
from ingestion.ticketing import (
    Capabilities,
    NewTicket,
    RemoteComment,
    RemoteTicket,
    TicketStatus,
)

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@dataclass
class FakeTicket:
    id: str
    conversation: str
    title: str
    body: str
    payload: dict[str, Any]
    status: TicketStatus = "open"
    comments: list[RemoteComment] = field(default_factory=list)


class FakeClock:
    """A clock that only moves when told to (its ``sleep`` advances it instead of waiting)."""

    def __init__(self, start: dt.datetime = T0) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


class FakeTicketing:
    """A ticketing adapter that keeps tickets in a dict; ignores idempotency keys like helpdesk."""

    source = "fake"
    capabilities = Capabilities(
        webhooks=False, server_side_updated_since=False, idempotency_key_header=False
    )

    def __init__(self) -> None:
        self.tickets: dict[str, FakeTicket] = {}
        self.faults: list[str] = []
        self.calls: list[str] = []
        self._ids = itertools.count(1)

    def inject(self, *faults: str) -> None:
        self.faults.extend(faults)

    def _write(self) -> str | None:
        fault = self.faults.pop(0) if self.faults else None
        if fault == "down":
            raise TicketingUnavailable("connection refused")
        if fault == "rejected":
            raise TicketingRejected("400: title is required")
        if fault and fault.startswith("retry_after:"):
            raise TicketingUnavailable("429 too many requests", retry_after=float(fault[12:]))
        return fault

    def create_ticket(self, ticket: NewTicket) -> RemoteTicket:
        self.calls.append("create")
        fault = self._write()
        key = str(next(self._ids))
        self.tickets[key] = FakeTicket(
            key, ticket.external_conversation_id, ticket.title, ticket.body, ticket.payload
        )
        if fault == "after":
            raise TicketingUnavailable("500 after commit")
        return self._remote(self.tickets[key])

    def find_by_conversation(self, conversation_id: str) -> RemoteTicket | None:
        self.calls.append("find")
        found = [t for t in self.tickets.values() if t.conversation == conversation_id]
        return self._remote(found[-1]) if found else None

    def add_comment(self, ticket_id: str, body: str, *, public: bool) -> RemoteComment:
        self.calls.append("comment")
        fault = self._write()
        comment = RemoteComment(
            id=f"{ticket_id}-{len(self.tickets[ticket_id].comments) + 1}",
            body=body,
            visibility="public" if public else "internal",
            author_role="bot",
        )
        self.tickets[ticket_id].comments.append(comment)
        if fault == "after":
            raise TicketingUnavailable("500 after commit")
        return comment

    def set_status(self, ticket_id: str, status: TicketStatus) -> None:
        self.tickets[ticket_id].status = status

    def get_ticket(self, ticket_id: str) -> RemoteTicket:
        self.calls.append("get")
        return self._remote(self.tickets[ticket_id])

    def list_updated_since(
        self, since: dt.datetime, after_id: str | None, limit: int
    ) -> list[RemoteTicket]:
        return [self._remote(t) for t in self.tickets.values()][:limit]

    def close(self) -> None:
        pass

    def _remote(self, ticket: FakeTicket) -> RemoteTicket:
        return RemoteTicket(
            id=ticket.id,
            status=ticket.status,
            raw_status=ticket.status,
            title=ticket.title,
            url=f"fake://tickets/{ticket.id}",
            external_conversation_id=ticket.conversation,
            comments=tuple(ticket.comments),
        )

    def per_conversation(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for ticket in self.tickets.values():
            counts[ticket.conversation] = counts.get(ticket.conversation, 0) + 1
        return counts


def escalation_payload(
    session_id: str = "sess-1", event_id: str = "ev-1", **changes: Any
) -> dict[str, Any]:
    """A complete, valid escalation payload (JSON data); ``changes`` override top-level fields."""
    payload: dict[str, Any] = {
        "session_id": session_id,
        "escalation_event_id": event_id,
        "tenant": "acme",
        "customer": {"id": "c-7", "name": "Ada Lovelace", "email": "ada@example.com"},
        "transcript": [
            {
                "role": "customer",
                "text": "My invoice shows VAT twice.",
                "at": "2026-03-02T09:00:00Z",
            },
            {
                "role": "bot",
                "text": "I could not find anything about double VAT.",
                "at": "2026-03-02T09:00:05+00:00",
            },
        ],
        "context": {
            "summary": "Customer sees VAT charged twice on invoice 1042.",
            "intent": "billing.vat",
        },
        "evidence": [
            {
                "doc_id": "kb-12",
                "type": "article",
                "title": "How VAT is calculated",
                "link": "https://kb.example.com/12",
                "score": 0.41,
                "ranks": {"bm25": 3, "dense": 1},
                "retrieved_at": "2026-03-02T09:00:04Z",
            }
        ],
        "reason": "no_evidence",
        "suggested_questions": ["Which invoice number?", "Is the customer VAT-registered?"],
    }
    payload.update(changes)
    return payload


def later_event(
    payload: dict[str, Any], event_id: str, text: str, **changes: Any
) -> dict[str, Any]:
    """The same conversation escalating again with one more customer message."""
    transcript = [
        *payload["transcript"],
        {"role": "customer", "text": text, "at": "2026-03-02T09:05:00Z"},
    ]
    return {**payload, "escalation_event_id": event_id, "transcript": transcript, **changes}


__all__ = ["T0", "FakeClock", "FakeTicket", "FakeTicketing", "escalation_payload", "later_event"]
