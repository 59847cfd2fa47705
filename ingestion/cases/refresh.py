"""Pull the current state of candidate tickets from the ticketing system before learning.

Webhooks and polling keep the mirror current, but learning acts on it irreversibly enough (an
answer served to customers) that it re-reads each candidate first: a missed reopen is caught, and
the canonical status (``duplicate`` is mirrored as ``closed``) is known.
"""

from __future__ import annotations

from ingestion.applier import apply_snapshot
from ingestion.schema import Ticket
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from ingestion.ticketing import TicketingAdapter


def refresh_ticket(
    store: Store, adapter: TicketingAdapter, ticket_id: int, settings: IngestionSettings
) -> str | None:
    """Apply the ticket's current snapshot; returns its canonical status (None: not ours).

    Ticketing errors propagate: `TicketingUnavailable` is worth a retry, and the adapter's
    not-found error means the ticket is gone (callers treat it as ``deleted``).
    """
    with store.transaction() as tx:
        ticket = tx.get(Ticket, ticket_id)
        if ticket is None or ticket.source != adapter.source:
            return None
        external_id = ticket.external_id
    remote = adapter.get_ticket(external_id)
    apply_snapshot(store, adapter.source, remote, cause="learning", settings=settings)
    return remote.status
