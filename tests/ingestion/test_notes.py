"""The one note writer: one marker format, written once, found again, mirrored as the bot's."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from ingestion.errors import TicketingUnavailable
from ingestion.notes import add_note, marker, marker_prefix, write_note_once
from ingestion.schema import TicketComment
from ingestion.store import Store
from ingestion.ticket_body import marker as escalation_marker
from ingestion.ticketing import NewTicket
from tests.support.fake_ticketing import FakeTicketing, mirror_ticket


def opened() -> tuple[FakeTicketing, str]:
    fake = FakeTicketing()
    ticket = fake.create_ticket(NewTicket("k", "sess-1", "acme", "printer", "on fire"))
    return fake, ticket.id


def test_one_marker_format_for_every_kind() -> None:
    assert marker("case", "sim:1 v2 abc") == "caseloop-case: sim:1 v2 abc"
    assert marker_prefix("forwarded-message") == "caseloop-forwarded-message:"
    assert escalation_marker("e-1") == marker("escalation", "e-1")  # the ticket footer's too


def test_written_once_whatever_the_retries() -> None:
    fake, ticket = opened()
    tag = marker("context", "0123")
    first = write_note_once(fake, ticket, tag, f"Late context\n\n{tag}")
    again = write_note_once(fake, ticket, tag, f"Late context\n\n{tag}")
    assert (first.written, again.written) == (True, False)
    assert again.comment.id == first.comment.id
    [note] = fake.tickets[ticket].comments
    assert (note.visibility, note.body) == ("internal", f"Late context\n\n{tag}")


def test_a_note_written_before_a_lost_answer_is_found_again() -> None:
    fake, ticket = opened()
    tag = marker("escalation", "e-2")
    real_add = fake.add_comment

    def add_then_fail(ticket_id: str, body: str, *, public: bool):  # type: ignore[no-untyped-def]
        real_add(ticket_id, body, public=public)
        raise TicketingUnavailable("500 after commit")

    fake.add_comment = add_then_fail  # type: ignore[method-assign]
    with pytest.raises(TicketingUnavailable):
        write_note_once(fake, ticket, tag, f"update\n{tag}", look_first=False)
    fake.add_comment = real_add  # type: ignore[method-assign]
    assert not write_note_once(fake, ticket, tag, f"update\n{tag}").written
    assert len(fake.tickets[ticket].comments) == 1


def test_first_attempt_skips_the_read_and_a_snapshot_needs_none() -> None:
    fake, ticket = opened()
    fake.calls.clear()
    write_note_once(fake, ticket, marker("case", "x"), "n caseloop-case: x", look_first=False)
    assert fake.calls == ["add_comment"]
    fake.calls.clear()
    snapshot = fake.tickets[ticket]
    assert not write_note_once(fake, snapshot, marker("case", "x"), "caseloop-case: x").written
    assert fake.calls == []


def test_a_note_must_carry_its_marker() -> None:
    fake, ticket = opened()
    with pytest.raises(ValueError, match="marker"):
        write_note_once(fake, ticket, marker("case", "x"), "no marker here")
    assert fake.tickets[ticket].comments == ()


def test_add_note_mirrors_it_as_the_bots(store: Store) -> None:
    fake, ticket = opened()
    row = mirror_ticket(store, "fake", ticket, "sess-1")
    tag = marker("context", "42")
    assert add_note(store, fake, row, ticket, tag, f"context\n{tag}")
    assert not add_note(store, fake, row, ticket, tag, f"context\n{tag}")
    with store.transaction() as s:
        rows = s.execute(select(TicketComment.author_role, TicketComment.visibility)).all()
    assert [tuple(r) for r in rows] == [("bot", "internal")]
