"""Internal notes caseloop writes on tickets: each written once, found again by its marker.

Every note carries one marker line, ``caseloop-<kind>: <key>`` (the line format of the ticket
description's footer as well). `write_note_once` first reads the ticket's comments and skips the
note when one already carries the marker, so a retry after a timeout, a 500 after commit or a
crash, and concurrent runs, never pile up notes. The kinds:

    escalation          the relay's update note on an open ticket      key: the escalation id
    forwarded-message   "forwarded to the customer as message #n"      key: the message id
    case                learning's "Resolution summary"                key: case, version, hash
    context             ticket_sync's late conversation context        key: hash of the lines

Notes are always internal, and the writer mirrors them as the bot's own comments
(`ingestion.applier.record_own_note`), so they are never forwarded to a customer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ingestion.applier import record_own_note
from ingestion.clock import utcnow
from ingestion.store import Store
from ingestion.ticketing import RemoteComment, RemoteTicket, TicketingAdapter


def marker(kind: str, key: str) -> str:
    """The marker line of a note of ``kind`` (e.g. ``caseloop-escalation: <id>``)."""
    return f"{marker_prefix(kind)} {key}"


def marker_prefix(kind: str) -> str:
    """What every marker of ``kind`` starts with (to find all notes of one kind)."""
    return f"caseloop-{kind}:"


@dataclass(frozen=True, slots=True)
class Note:
    """A note on a ticket: the comment, and whether this call wrote it (False: it was there)."""

    comment: RemoteComment
    written: bool


def find_note(comments: tuple[RemoteComment, ...], tag: str) -> RemoteComment | None:
    """The first comment carrying the marker ``tag``."""
    return next((comment for comment in comments if tag in comment.body), None)


def write_note_once(
    adapter: TicketingAdapter,
    ticket: str | RemoteTicket,
    tag: str,
    body: str,
    *,
    look_first: bool = True,
) -> Note:
    """Add ``body`` as an internal note unless a comment of ``ticket`` already carries ``tag``.

    ``ticket`` is an id (its comments are read) or a snapshot just read. ``look_first=False``
    skips the read when the note cannot exist yet (a first attempt). Ticketing errors propagate.
    """
    if tag not in body:
        raise ValueError(f"a note must carry its marker {tag!r}")
    ticket_id = ticket.id if isinstance(ticket, RemoteTicket) else ticket
    if look_first:
        remote = ticket if isinstance(ticket, RemoteTicket) else adapter.get_ticket(ticket_id)
        earlier = find_note(remote.comments, tag)
        if earlier is not None:
            return Note(earlier, written=False)
    return Note(adapter.add_comment(ticket_id, body, public=False), written=True)


def add_note(
    store: Store,
    adapter: TicketingAdapter,
    ticket_row: int,
    ticket: str | RemoteTicket,
    tag: str,
    body: str,
    *,
    now: dt.datetime | None = None,
) -> bool:
    """`write_note_once`, then mirror the note as the bot's; True when this call wrote it."""
    note = write_note_once(adapter, ticket, tag, body)
    with store.transaction() as session:
        record_own_note(session, ticket_row, note.comment, now=now or utcnow())
    return note.written
