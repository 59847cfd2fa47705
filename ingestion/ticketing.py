"""The ticketing adapter protocol: what caseloop needs from any ticketing system.

One module per system implements it (`ingestion.adapters.helpdesk`, …), on `AdapterBase` so that
every adapter is a context manager (``with build_adapter(settings) as adapter:``). Adapters speak
the system's API and translate both ways: statuses into `TicketStatus`, visibility into
``public``/``internal`` (default-deny: anything not explicitly customer-visible is internal), and
library errors into `TicketingUnavailable` (retryable) or `TicketingRejected` (permanent).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, Self, runtime_checkable

#: Canonical ticket statuses, as adapters report them.
TicketStatus = Literal["open", "reopened", "pending", "resolved", "closed", "duplicate", "deleted"]
Visibility = Literal["public", "internal"]
AuthorRole = Literal["agent", "customer", "bot", "unknown"]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a ticketing system can do; the relay and the sync worker adapt to it."""

    webhooks: bool
    server_side_updated_since: bool
    idempotency_key_header: bool
    find_by_conversation: bool = True


@dataclass(frozen=True, slots=True)
class NewTicket:
    """A ticket to create. ``payload`` is the machine-readable escalation kept with the ticket."""

    idempotency_key: str
    external_conversation_id: str
    tenant: str
    title: str
    body: str
    customer_email: str | None = None
    customer_name: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RemoteComment:
    """A comment (follow-up, correspondence, note) as the ticketing system holds it."""

    id: str
    body: str
    visibility: Visibility
    author: str | None = None
    author_role: AuthorRole = "unknown"
    created_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class RemoteTicket:
    """A ticket snapshot read from the ticketing system."""

    id: str
    status: TicketStatus
    raw_status: str
    title: str
    url: str | None = None
    external_conversation_id: str | None = None
    customer_email: str | None = None
    customer_name: str | None = None
    updated_at: dt.datetime | None = None
    comments: tuple[RemoteComment, ...] = ()
    description: str | None = None  # the opening text, when the system keeps it apart
    in_queue: bool = True  # in the adapter's configured queue (learning's ``queue`` scope)


class AdapterBase:
    """What every adapter shares: leaving a ``with`` block closes it."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release connections (an adapter that holds none keeps this)."""


@runtime_checkable
class TicketingAdapter(Protocol):
    """A ticketing system as caseloop uses it. All times are zone-aware UTC."""

    source: str
    capabilities: Capabilities

    def create_ticket(self, ticket: NewTicket) -> RemoteTicket:
        """Create a ticket (sending the idempotency key where the system honours one)."""
        ...

    def find_by_conversation(self, conversation_id: str) -> RemoteTicket | None:
        """The ticket opened for an external conversation id, if any (newest first)."""
        ...

    def add_comment(self, ticket_id: str, body: str, *, public: bool) -> RemoteComment:
        """Add a customer-visible (``public``) or internal comment."""
        ...

    def set_status(self, ticket_id: str, status: TicketStatus) -> None:
        """Move the ticket to a canonical status (mapped to the system's own)."""
        ...

    def get_ticket(self, ticket_id: str) -> RemoteTicket:
        """Read one ticket with all its comments."""
        ...

    def list_updated_since(
        self, since: dt.datetime, after_id: str | None, limit: int
    ) -> list[RemoteTicket]:
        """Tickets with ``(updated_at, id) >= (since, after_id)``, ordered by that tuple."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...

    def __enter__(self) -> Self:
        """The adapter itself, closed when the ``with`` block ends."""
        ...

    def __exit__(self, *exc_info: object) -> None:
        """Close the adapter."""
        ...
