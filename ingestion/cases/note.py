"""The optional write-back: a "Resolution summary" internal note on the ticket, written once.

The note ends with a marker naming the case, version and content hash (``caseloop-case: …``, the
`ingestion.notes` format); `ingestion.notes.add_note` skips it when the ticket already has that
marker, so re-runs, retries after a timeout and concurrent runs do not pile up notes, and mirrors
it as the bot's own comment.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from ingestion import notes
from ingestion.cases.catalogue import active_summary
from ingestion.errors import TicketingError
from ingestion.schema import CaseSummary, Ticket
from ingestion.store import Store
from ingestion.ticketing import TicketingAdapter

TITLE = "Resolution summary"


def marker(row: CaseSummary) -> str:
    """The idempotency marker of one case version's note."""
    return notes.marker("case", f"{row.case_id} v{row.version} {row.content_hash[:12]}")


def note_body(row: CaseSummary) -> str:
    tags = ", ".join(row.tags) if row.tags else "(none)"
    return f"{TITLE}\n\n{row.summary}\n\nTags: {tags}\n\n{marker(row)}"


def write_note(store: Store, adapter: TicketingAdapter, case_id: str) -> bool:
    """Write the active version's note unless the ticket already has it; True when written.

    Ticketing errors propagate (callers retry `TicketingUnavailable`).
    """
    with store.transaction() as session:
        row = active_summary(session, case_id)
        if row is None:
            return False
        external_id = session.scalar(select(Ticket.external_id).where(Ticket.id == row.ticket_id))
    if external_id is None:
        return False
    return notes.add_note(store, adapter, row.ticket_id, external_id, marker(row), note_body(row))


def write_notes(store: Store, adapter: TicketingAdapter, case_ids: Sequence[str]) -> int:
    """Write the notes of ``case_ids``; a ticket that fails is skipped (the next run retries)."""
    written = 0
    for case_id in case_ids:
        try:
            written += write_note(store, adapter, case_id)
        except TicketingError:
            continue
    return written
