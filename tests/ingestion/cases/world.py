"""Build store state the way production does: `escalate`, the relay's mirror row, `apply_snapshot`.

The ticket row is written as the relay writes it when it creates a ticket; every later change
(status, agent and customer comments) goes through the real update applier.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field

from ingestion.applier import apply_snapshot
from ingestion.escalations import EscalationRequest, escalate
from ingestion.schema import Escalation, Ticket
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from ingestion.ticketing import RemoteComment, RemoteTicket, TicketStatus

T0 = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
_clock = itertools.count(1)


@dataclass
class SimTicket:
    """One conversation's ticket as the ticketing system holds it."""

    external_id: str
    session_id: str
    title: str
    status: TicketStatus = "open"
    comments: list[RemoteComment] = field(default_factory=list)
    customer_name: str | None = None
    customer_email: str | None = None

    def snapshot(self) -> RemoteTicket:
        return RemoteTicket(
            id=self.external_id,
            status=self.status,
            raw_status=self.status,
            title=self.title,
            url=f"https://tickets.example/{self.external_id}",
            external_conversation_id=self.session_id,
            customer_email=self.customer_email,
            customer_name=self.customer_name,
            updated_at=T0 + dt.timedelta(minutes=next(_clock)),
            comments=tuple(self.comments),
        )


class World:
    """Escalations and tickets in one store."""

    def __init__(self, store: Store, settings: IngestionSettings | None = None) -> None:
        self.store = store
        self.settings = settings or IngestionSettings()
        self.tickets: dict[str, SimTicket] = {}

    def escalate(
        self,
        key: str,
        message: str,
        *,
        intent: str = "reset_password",
        summary: str = "",
        customer: dict[str, str] | None = None,
        tenant: str = "acme",
        delivered: bool = True,
    ) -> SimTicket:
        request = EscalationRequest.model_validate(
            {
                "session_id": f"s-{key}",
                "escalation_event_id": "e1",
                "tenant": tenant,
                "customer": customer or {},
                "transcript": [
                    {"role": "customer", "text": message, "at": T0.isoformat()},
                    {"role": "bot", "text": "Let me get a person.", "at": T0.isoformat()},
                ],
                "context": {"summary": summary, "intent": intent},
                "evidence": [
                    {
                        "doc_id": "kb-7",
                        "type": "article",
                        "score": 0.2,
                        "retrieved_at": T0.isoformat(),
                    }
                ],
                "reason": "low_confidence",
            }
        )
        view = escalate(self.store, request, settings=self.settings, clock=lambda: T0)
        ticket = SimTicket(
            external_id=key,
            session_id=request.session_id,
            title=message[:60],
            customer_name=(customer or {}).get("name"),
            customer_email=(customer or {}).get("email"),
        )
        if not delivered:  # the relay has not created its ticket (yet)
            return ticket
        with self.store.transaction() as tx:  # what the relay writes when it creates the ticket
            row = Ticket(
                source="sim",
                external_id=key,
                session_id=request.session_id,
                tenant=tenant,
                url=f"https://tickets.example/{key}",
                title=ticket.title,
                status="escalated",
                customer_name=ticket.customer_name,
                customer_email=ticket.customer_email,
                created_at=T0,
            )
            tx.add(row)
            tx.flush()
            escalation = tx.get_one(Escalation, view.id)
            escalation.ticket_id = row.id
            escalation.state = "delivered"
        self.tickets[key] = ticket
        return ticket

    def comment(self, key: str, body: str, *, role: str = "agent", public: bool = True) -> None:
        ticket = self.tickets[key]
        n = len(ticket.comments) + 1
        ticket.comments.append(
            RemoteComment(
                id=f"{key}-c{n}",
                body=body,
                visibility="public" if public else "internal",
                author="sam" if role == "agent" else "cust",
                author_role=role,  # type: ignore[arg-type]
                created_at=T0 + dt.timedelta(minutes=n * 7),
            )
        )
        self.push(key)

    def set_status(self, key: str, status: TicketStatus) -> None:
        self.tickets[key].status = status
        self.push(key)

    def push(self, key: str) -> None:
        apply_snapshot(
            self.store, "sim", self.tickets[key].snapshot(), cause="poll", settings=self.settings
        )

    def resolve(self, key: str, answer: str) -> None:
        self.comment(key, answer)
        self.set_status(key, "resolved")
