"""Property: any interleaving of a ticket's snapshots (duplicates, reordering, stale ones) ends in
the same state and the same outgoing messages as one clean in-order pass."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from ingestion.applier import apply_snapshot, message_id
from ingestion.schema import OutgoingMessage, Ticket, TicketComment, TicketEvent
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from ingestion.ticketing import RemoteComment, RemoteTicket
from tests.support.fake_ticketing import T0, mirror_ticket

SETTINGS = IngestionSettings()
SOURCE = "fake"

# One change to the remote ticket: a comment (visibility, author role) or a status.
change = st.one_of(
    st.tuples(
        st.just("comment"),
        st.sampled_from(["public", "internal"]),
        st.sampled_from(["agent", "customer", "bot", "unknown"]),
    ),
    st.tuples(
        st.just("status"),
        st.sampled_from(["open", "reopened", "resolved", "closed", "pending"]),
        st.just(""),
    ),
)


def history(changes: list[tuple[str, str, str]]) -> list[RemoteTicket]:
    """The cumulative snapshots the ticketing system would return after each change."""
    status, comments, snaps = "open", [], []
    for n, (kind, a, b) in enumerate(changes, start=1):
        when = T0 + dt.timedelta(seconds=n)
        if kind == "comment":
            comments.append(RemoteComment(str(n), f"reply {n}", a, "x", b, when))  # type: ignore[arg-type]
        else:
            status = a
        snaps.append(
            RemoteTicket("0", status, status, "t", updated_at=when, comments=tuple(comments))
        )  # type: ignore[arg-type]
    return snaps


def outcome(store: Store, ticket_row: int, session_id: str) -> dict[str, object]:
    with store.transaction() as s:
        ticket = s.get(Ticket, ticket_row)
        assert ticket is not None
        comments = sorted(
            (c.external_id, c.visibility, c.author_role)
            for c in s.scalars(select(TicketComment).where(TicketComment.ticket_id == ticket_row))
        )
        msgs = [
            (m.seq, m.body, m.id)
            for m in s.scalars(
                select(OutgoingMessage)
                .where(OutgoingMessage.session_id == session_id)
                .order_by(OutgoingMessage.seq)
            )
        ]
        chain = [
            (e.from_status, e.to_status)
            for e in s.scalars(
                select(TicketEvent)
                .where(TicketEvent.ticket_id == ticket_row)
                .order_by(TicketEvent.id)
            )
        ]
        return {
            "status": ticket.status,
            "updated": ticket.remote_updated_at,
            "comments": comments,
            "messages": msgs,
            "chain": chain,
        }


def run(store: Store, snaps: list[RemoteTicket], order: list[int]) -> dict[str, object]:
    external, session_id = uuid.uuid4().hex[:12], uuid.uuid4().hex
    row = mirror_ticket(store, SOURCE, external, session_id)
    for i in order:
        apply_snapshot(
            store,
            SOURCE,
            dataclasses.replace(snaps[i], id=external),
            cause="test",
            settings=SETTINGS,
        )
    result = outcome(store, row, session_id)
    # Message ids are stable per (ticket, comment): compare them through the comment id.
    result["messages"] = [
        (seq, body, mid == message_id(SOURCE, external, body.split()[-1]))
        for seq, body, mid in result["messages"]  # type: ignore[attr-defined]
    ]
    return result


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(changes=st.lists(change, min_size=1, max_size=8), data=st.data())
def test_interleavings_match_clean_pass(
    store: Store, changes: list[tuple[str, str, str]], data: st.DataObject
) -> None:
    snaps = history(changes)
    n = len(snaps)
    order = data.draw(st.permutations(range(n)))
    # Duplicates and stale re-deliveries anywhere in the stream.
    for extra in data.draw(st.lists(st.integers(0, n - 1), max_size=6)):
        order.insert(data.draw(st.integers(0, len(order))), extra)
    clean = run(store, snaps, list(range(n)))
    mixed = run(store, snaps, order)
    clean_chain, mixed_chain = clean.pop("chain"), mixed.pop("chain")
    assert mixed == clean
    assert all(ok for _, _, ok in clean["messages"])  # type: ignore[attr-defined]
    # Every transition is recorded: the events form a chain from escalated to the final status.
    for chain in (clean_chain, mixed_chain):
        statuses = ["escalated"] + [to for _, to in chain]  # type: ignore[attr-defined]
        assert [frm for frm, _ in chain] == statuses[:-1]  # type: ignore[attr-defined]
        assert statuses[-1] == clean["status"]
    # No customer ever sees an internal note or a non-agent comment.
    forwarded = {body.split()[-1] for _, body, _ in clean["messages"]}  # type: ignore[attr-defined]
    public_agent = {
        str(i + 1) for i, c in enumerate(changes) if c == ("comment", "public", "agent")
    }
    assert forwarded == public_agent
