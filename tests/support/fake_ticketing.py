"""One in-memory ticketing system with scripted faults and a controllable clock, and test data.

The fake is used where a test needs thousands of deliveries in a second (the property test), a
fault the real systems cannot produce on demand (429 with Retry-After, 500 after commit), or many
tickets on one ``updated_at``. It passes the same `AdapterContract` as the real adapters
(``tests/ingestion/adapters/test_fake.py``), and every behaviour it stands in for is also tested
against the real django-helpdesk.

Faults:

* `inject` applies to the next *write* calls (create, comment) in order: ``"down"`` fails before
  writing, ``"after"`` writes then fails (500 after commit), ``"rejected"`` is a permanent error,
  ``"retry_after:N"`` is a 429 asking for N seconds;
* `failures` are raised by the next calls of any kind, one each, before they do anything
  (`throttle` queues a 429);
* ``reachable=False`` makes every call fail as a refused connection would.

Times: ``now`` when a test sets it, else ``start`` plus one second per change.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Any

from ingestion.adapters.http import TicketNotFound
from ingestion.applier import apply_snapshot
from ingestion.errors import TicketingRejected, TicketingUnavailable
from ingestion.schema import Ticket
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from ingestion.ticketing import (
    AdapterBase,
    AuthorRole,
    Capabilities,
    NewTicket,
    RemoteComment,
    RemoteTicket,
    TicketStatus,
)

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def id_order(ticket_id: str) -> tuple[int, int, str]:
    """Numeric ids in numeric order, others after them in text order (as the sync worker)."""
    return (0, int(ticket_id), "") if ticket_id.isdigit() else (1, 0, ticket_id)


@dataclass(frozen=True, slots=True)
class FakeTicket(RemoteTicket):
    """A ticket as the fake keeps it: a snapshot, plus what was sent when it was created."""

    body: str = ""
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def conversation(self) -> str:
        return self.external_conversation_id or ""


class FakeClock:
    """A clock that only moves when told to (its ``sleep`` advances it instead of waiting)."""

    def __init__(self, start: dt.datetime = T0) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


class FakeTicketing(AdapterBase):
    """Tickets in a dict; ignores idempotency keys like django-helpdesk does."""

    capabilities = Capabilities(
        webhooks=True, server_side_updated_since=True, idempotency_key_header=False
    )

    def __init__(
        self, source: str = "fake", *, start: dt.datetime = T0, reachable: bool = True
    ) -> None:
        self.source = source
        self.reachable = reachable
        self.tickets: dict[str, FakeTicket] = {}
        self.now: dt.datetime | None = None
        self.calls: list[str] = []
        self.faults: list[str] = []  # for the next writes
        self.failures: list[Exception] = []  # for the next calls of any kind
        self._start = start
        self._ids = itertools.count(1)
        self._comment_ids = itertools.count(1)
        self._tick = itertools.count(1)

    # -- scripted faults -------------------------------------------------------------------
    def inject(self, *faults: str) -> None:
        self.faults.extend(faults)

    def throttle(self, retry_after: float) -> None:
        """The next call answers like a 429 with Retry-After."""
        self.failures.append(TicketingUnavailable("429 Too Many Requests", retry_after=retry_after))

    def _enter(self, name: str) -> None:
        self.calls.append(name)
        if not self.reachable:
            raise TicketingUnavailable("connection refused")
        if self.failures:
            raise self.failures.pop(0)

    def _write(self) -> str | None:
        fault = self.faults.pop(0) if self.faults else None
        if fault == "down":
            raise TicketingUnavailable("connection refused")
        if fault == "rejected":
            raise TicketingRejected("400: title is required")
        if fault and fault.startswith("retry_after:"):
            raise TicketingUnavailable("429 too many requests", retry_after=float(fault[12:]))
        return fault

    def _time(self) -> dt.datetime:
        return self.now or self._start + dt.timedelta(seconds=next(self._tick))

    def _ticket(self, ticket_id: str) -> FakeTicket:
        if ticket_id not in self.tickets:
            raise TicketNotFound(f"ticket {ticket_id} does not exist")
        return self.tickets[ticket_id]

    # -- the adapter protocol --------------------------------------------------------------
    def create_ticket(self, ticket: NewTicket) -> RemoteTicket:
        self._enter("create_ticket")
        fault = self._write()
        key = str(next(self._ids))
        self.tickets[key] = FakeTicket(
            id=key,
            status="open",
            raw_status="open",
            title=ticket.title,
            url=f"fake://tickets/{key}",
            external_conversation_id=ticket.external_conversation_id,
            customer_email=ticket.customer_email,
            customer_name=ticket.customer_name,
            updated_at=self._time(),
            body=ticket.body,
            payload=ticket.payload,
        )
        if fault == "after":
            raise TicketingUnavailable("500 after commit")
        return self.tickets[key]

    def find_by_conversation(self, conversation_id: str) -> RemoteTicket | None:
        self._enter("find_by_conversation")
        found = [t for t in self.tickets.values() if t.conversation == conversation_id]
        return max(found, key=lambda t: id_order(t.id)) if found else None

    def add_comment(self, ticket_id: str, body: str, *, public: bool) -> RemoteComment:
        self._enter("add_comment")
        self._ticket(ticket_id)
        fault = self._write()
        comment = self.comment(ticket_id, body, public=public, role="bot")
        if fault == "after":
            raise TicketingUnavailable("500 after commit")
        return comment

    def set_status(self, ticket_id: str, status: TicketStatus) -> None:
        self._enter("set_status")
        self._update(ticket_id, status=status, raw_status=status)

    def get_ticket(self, ticket_id: str) -> RemoteTicket:
        self._enter("get_ticket")
        return self._ticket(ticket_id)

    def list_updated_since(
        self, since: dt.datetime, after_id: str | None, limit: int
    ) -> list[RemoteTicket]:
        self._enter("list_updated_since")
        if since.tzinfo is None:
            raise TicketingRejected("since: a zone-aware UTC time is required")
        start = (since, id_order(after_id) if after_id is not None else (-1, 0, ""))
        rows = [
            t
            for t in self.tickets.values()
            if t.updated_at is not None and (t.updated_at, id_order(t.id)) >= start
        ]
        rows.sort(key=lambda t: (t.updated_at, id_order(t.id)))
        return list(rows[:limit])

    def close(self) -> None:
        self.calls.append("close")

    # -- what agents do in the ticketing system ----------------------------------------------
    def comment(
        self, ticket_id: str, body: str, *, public: bool, role: AuthorRole = "agent"
    ) -> RemoteComment:
        """An agent (or ``role``) writes a follow-up; the ticket's updated_at moves."""
        when = self._time()
        comment = RemoteComment(
            id=str(next(self._comment_ids)),
            body=body,
            visibility="public" if public else "internal",
            author=f"{role}@example.test",
            author_role=role,
            created_at=when,
        )
        ticket = self._ticket(ticket_id)
        self.tickets[ticket_id] = dataclasses.replace(
            ticket, comments=(*ticket.comments, comment), updated_at=when
        )
        return comment

    def _update(self, ticket_id: str, **changes: Any) -> None:
        ticket = self._ticket(ticket_id)
        self.tickets[ticket_id] = dataclasses.replace(ticket, updated_at=self._time(), **changes)

    def same_time(self, ticket_ids: list[str], when: dt.datetime) -> None:
        """Put several tickets on one ``updated_at`` (real systems rarely do it on their own)."""
        for ticket_id in ticket_ids:
            self.tickets[ticket_id] = dataclasses.replace(self._ticket(ticket_id), updated_at=when)

    def per_conversation(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for ticket in self.tickets.values():
            counts[ticket.conversation] = counts.get(ticket.conversation, 0) + 1
        return counts


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


__all__ = [
    "T0",
    "FakeClock",
    "FakeTicket",
    "FakeTicketing",
    "escalation_payload",
    "id_order",
    "later_event",
    "mirror_ticket",
    "seed_replies",
]
