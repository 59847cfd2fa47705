"""The update applier on SQLite and PostgreSQL: status, events, comment mirror, messages."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from sqlalchemy import select

from ingestion.applier import apply_snapshot, message_id
from ingestion.schema import OutgoingMessage, Ticket, TicketComment, TicketEvent
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from ingestion.ticketing import RemoteComment, RemoteTicket
from tests.support.fake_ticketing import T0, mirror_ticket

SETTINGS = IngestionSettings()


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def comment(
    cid: str, minutes: int, *, visibility: str = "public", role: str = "agent"
) -> RemoteComment:
    return RemoteComment(
        id=cid,
        body=f"body of {cid}",
        visibility=visibility,  # type: ignore[arg-type]
        author="someone",
        author_role=role,  # type: ignore[arg-type]
        created_at=at(minutes),
    )


def snapshot(ticket_id: str, status: str, minutes: int, *comments: RemoteComment) -> RemoteTicket:
    return RemoteTicket(
        id=ticket_id,
        status=status,  # type: ignore[arg-type]
        raw_status=status,
        title="printer on fire",
        updated_at=at(minutes),
        comments=comments,
    )


def messages(store: Store, session_id: str) -> list[tuple[int, str]]:
    with store.transaction() as s:
        rows = s.execute(
            select(OutgoingMessage.seq, OutgoingMessage.body)
            .where(OutgoingMessage.session_id == session_id)
            .order_by(OutgoingMessage.seq)
        )
        return [(seq, body) for seq, body in rows]


def events(store: Store, ticket_row: int) -> list[tuple[str | None, str, str]]:
    with store.transaction() as s:
        rows = s.execute(
            select(TicketEvent.from_status, TicketEvent.to_status, TicketEvent.cause)
            .where(TicketEvent.ticket_id == ticket_row)
            .order_by(TicketEvent.id)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def test_public_agent_reply_forwarded_once(store: Store) -> None:
    mirror_ticket(store, "fake", "1", "sess-1")
    snap = snapshot("1", "open", 1, comment("10", 1))
    first = apply_snapshot(store, "fake", snap, cause="webhook", settings=SETTINGS)
    again = apply_snapshot(store, "fake", snap, cause="poll", settings=SETTINGS)
    assert first.known
    assert first.messages == (message_id("fake", "1", "10"),)
    assert again.messages == ()
    assert again.comments_mirrored == 0
    assert again.stale
    assert messages(store, "sess-1") == [(1, "body of 10")]
    with store.transaction() as s:
        msg = s.scalars(select(OutgoingMessage)).one()
        assert msg.push_state == "off"  # no orchestrator_url: pull only


def test_default_deny(store: Store) -> None:
    mirror_ticket(store, "fake", "1", "sess-1")
    snap = snapshot(
        "1",
        "open",
        5,
        comment("1", 1, visibility="internal"),
        comment("2", 2, role="customer"),
        comment("3", 3, role="bot"),
        comment("4", 4, role="unknown"),
        comment("5", 5, visibility="secret-ish"),  # unknown visibility from a sloppy adapter
    )
    result = apply_snapshot(store, "fake", snap, cause="poll", settings=SETTINGS)
    assert result.comments_mirrored == 5
    assert result.messages == ()
    assert messages(store, "sess-1") == []
    with store.transaction() as s:
        rows = s.execute(select(TicketComment.external_id, TicketComment.visibility))
        visibility = {cid: vis for cid, vis in rows}
    assert visibility == {
        "1": "internal",
        "2": "public",
        "3": "public",
        "4": "public",
        "5": "internal",
    }


def test_transitions_recorded_and_stale_snapshot_ignored(store: Store) -> None:
    row = mirror_ticket(store, "fake", "7", "sess-7")
    apply_snapshot(store, "fake", snapshot("7", "resolved", 10), cause="webhook", settings=SETTINGS)
    stale = apply_snapshot(store, "fake", snapshot("7", "open", 5), cause="poll", settings=SETTINGS)
    assert stale.stale
    assert stale.transition is None
    apply_snapshot(store, "fake", snapshot("7", "reopened", 20), cause="poll", settings=SETTINGS)
    apply_snapshot(store, "fake", snapshot("7", "closed", 30), cause="replay", settings=SETTINGS)
    assert events(store, row) == [
        ("escalated", "resolved", "webhook"),
        ("resolved", "reopened", "poll"),
        ("reopened", "closed", "replay"),
    ]
    with store.transaction() as s:
        ticket = s.get(Ticket, row)
        assert ticket is not None
        assert (ticket.status, ticket.remote_updated_at, ticket.raw_status) == (
            "closed",
            at(30),
            "closed",
        )


def test_unknown_ticket_writes_nothing(store: Store) -> None:
    result = apply_snapshot(
        store, "fake", snapshot("99", "open", 1, comment("1", 1)), cause="poll", settings=SETTINGS
    )
    assert not result.known
    with store.transaction() as s:
        assert s.scalars(select(TicketComment)).all() == []


def test_seq_per_session_across_tickets_and_push_pending(store: Store) -> None:
    settings = IngestionSettings(orchestrator_url="http://127.0.0.1:9/hook")
    mirror_ticket(store, "fake", "1", "sess-x")
    mirror_ticket(store, "fake", "2", "sess-x")
    mirror_ticket(store, "fake", "3", "sess-y")
    # Within one snapshot, new comments leave in the order agents wrote them.
    apply_snapshot(
        store,
        "fake",
        snapshot("1", "open", 3, comment("b", 3), comment("a", 2)),
        cause="poll",
        settings=settings,
    )
    apply_snapshot(
        store, "fake", snapshot("2", "open", 4, comment("c", 4)), cause="poll", settings=settings
    )
    apply_snapshot(
        store, "fake", snapshot("3", "open", 4, comment("d", 4)), cause="poll", settings=settings
    )
    assert messages(store, "sess-x") == [(1, "body of a"), (2, "body of b"), (3, "body of c")]
    assert messages(store, "sess-y") == [(1, "body of d")]
    with store.transaction() as s:
        states = set(s.scalars(select(OutgoingMessage.push_state)))
    assert states == {"pending"}


def test_message_id_is_stable_and_distinct() -> None:
    assert message_id("helpdesk", "1", "2") == message_id("helpdesk", "1", "2")
    assert (
        len(
            {
                message_id("helpdesk", "1", "2"),
                message_id("helpdesk", "12", ""),
                message_id("rt", "1", "2"),
            }
        )
        == 3
    )
    assert uuid.UUID(message_id("helpdesk", "1", "2")).version == 5


def test_comments_of_a_stale_snapshot_still_mirrored(store: Store) -> None:
    # A webhook's re-read may be overtaken by a poll; its comments are a subset, never lost.
    mirror_ticket(store, "fake", "1", "sess-1")
    newer = snapshot("1", "resolved", 10, comment("1", 1))
    older = dataclasses.replace(
        snapshot("1", "open", 2, comment("1", 1)), comments=(comment("1", 1),)
    )
    apply_snapshot(store, "fake", newer, cause="poll", settings=SETTINGS)
    result = apply_snapshot(store, "fake", older, cause="webhook", settings=SETTINGS)
    assert result.stale
    assert result.messages == ()
    assert messages(store, "sess-1") == [(1, "body of 1")]


def test_concurrent_appliers_keep_seq_dense_and_once(store: Store) -> None:
    # Webhook and poll workers applying tickets of one session at the same time (PostgreSQL:
    # real concurrency; the unique (session, seq) makes a loser redo its transaction).
    import threading

    for ticket in ("1", "2", "3"):
        mirror_ticket(store, "fake", ticket, "sess-c")
    snaps = [
        snapshot(t, "open", 10, *(comment(f"{t}-{n}", n) for n in range(1, 6)))
        for t in ("1", "2", "3")
    ]
    errors: list[BaseException] = []

    def work(snap: RemoteTicket) -> None:
        try:
            for _ in range(3):
                apply_snapshot(store, "fake", snap, cause="poll", settings=SETTINGS)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in snaps * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    got = messages(store, "sess-c")
    assert [seq for seq, _ in got] == list(range(1, 16))
    assert sorted(body for _, body in got) == sorted(
        f"body of {t}-{n}" for t in "123" for n in range(1, 6)
    )
    for t in "123":  # within one ticket, in the order agents wrote them
        mine = [body for _, body in got if body.startswith(f"body of {t}-")]
        assert mine == [f"body of {t}-{n}" for n in range(1, 6)]


def test_own_note_mirrored_first_by_a_webhook_becomes_the_bots(store: Store) -> None:
    from ingestion.applier import record_own_note

    ticket_row = mirror_ticket(store, "fake", "1", "sess-1")
    note = comment("9", 1, visibility="internal", role="agent")  # what an adapter may report
    apply_snapshot(
        store, "fake", snapshot("1", "open", 1, note), cause="webhook", settings=SETTINGS
    )
    with store.transaction() as s:
        record_own_note(s, ticket_row, note, now=at(2))
    with store.transaction() as s:
        rows = s.execute(select(TicketComment.external_id, TicketComment.author_role)).all()
    assert [tuple(r) for r in rows] == [("9", "bot")]
    assert messages(store, "sess-1") == []
