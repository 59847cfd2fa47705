"""`HelpdeskAdapter.find_by_conversation` against a real django-helpdesk: lost create answers,
several adapters (relays), late commits and deletions, and what a lookup costs in requests.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flows.helpdesk import HelpdeskServer
from ingestion.adapters import HelpdeskAdapter
from ingestion.adapters.helpdesk import LATE_COMMIT_SECONDS, ConversationIndex, TicketJson
from ingestion.errors import TicketingUnavailable
from tests.ingestion.adapters.contract import new_ticket
from tests.support.fault_proxy import FaultProxy
from tests.support.loopback import free_port

pytestmark = pytest.mark.helpdesk


@pytest.fixture
def proxy(helpdesk: HelpdeskServer) -> Iterator[FaultProxy]:
    with FaultProxy(helpdesk.url, hang_seconds=3.5, seed=11) as proxy:
        yield proxy


@pytest.fixture
def proxied(helpdesk: HelpdeskServer, proxy: FaultProxy) -> Iterator[HelpdeskAdapter]:
    adapter = HelpdeskAdapter(proxy.url, helpdesk.token, queue=helpdesk.queue_id, timeout=3.0)
    yield adapter
    adapter.close()


def found_id(adapter: HelpdeskAdapter, conversation: str) -> str | None:
    found = adapter.find_by_conversation(conversation)
    return None if found is None else found.id


def test_a_lost_create_is_found_after_later_creates(
    helpdesk_adapter: HelpdeskAdapter, proxied: HelpdeskAdapter, proxy: FaultProxy
) -> None:
    assert proxied.find_by_conversation("warm-up-the-index") is None
    lost, later = new_ticket(), new_ticket()
    proxy.plan("500_after")  # the helpdesk saves the ticket, the answer is a 500
    with pytest.raises(TicketingUnavailable, match="500"):
        proxied.create_ticket(lost)
    created = proxied.create_ticket(later)  # answered with an id above the lost one
    saved = found_id(helpdesk_adapter, lost.external_conversation_id)  # a fresh adapter's view
    assert saved is not None
    assert int(saved) < int(created.id)
    assert found_id(proxied, lost.external_conversation_id) == saved
    assert found_id(proxied, later.external_conversation_id) == created.id


def test_tickets_of_other_adapters_are_found_whatever_their_creates_answered(
    helpdesk: HelpdeskServer,
    helpdesk_adapter: HelpdeskAdapter,
    proxied: HelpdeskAdapter,
    proxy: FaultProxy,
) -> None:
    # Three relays: `helpdesk_adapter` looks up, `proxied` loses answers, `third` creates fine.
    third = HelpdeskAdapter(helpdesk.url, helpdesk.token, queue=helpdesk.queue_id)
    try:
        assert helpdesk_adapter.find_by_conversation("warm-up-the-index") is None
        wanted = [new_ticket() for _ in range(4)]
        proxy.plan("500_after", "timeout_after")
        for ticket in wanted[:2]:
            with pytest.raises(TicketingUnavailable):
                proxied.create_ticket(ticket)
        answered = [third.create_ticket(t).id for t in wanted[2:]]
        ids = [found_id(helpdesk_adapter, t.external_conversation_id) for t in wanted]
        assert None not in ids
        assert ids[2:] == answered
        assert ids == sorted(ids, key=lambda i: int(i or 0))
        for adapter in (proxied, third):
            assert [found_id(adapter, t.external_conversation_id) for t in wanted] == ids
    finally:
        third.close()


def test_an_indexed_lookup_reads_one_small_page(tmp_path: Path) -> None:
    # Its own helpdesk: another test's recent deletion would hold the floor below its hole.
    with (
        HelpdeskServer(tmp_path / "hd", free_port()) as helpdesk,
        FaultProxy(helpdesk.url) as proxy,
    ):
        writer = HelpdeskAdapter(helpdesk.url, helpdesk.token, queue=helpdesk.queue_id)
        reader = HelpdeskAdapter(proxy.url, helpdesk.token, queue=helpdesk.queue_id, page_size=5)
        try:
            for _ in range(12):
                writer.create_ticket(new_ticket())
            assert reader.find_by_conversation("warm-up-the-index") is None
            assert proxy.forwarded == 3  # the first lookup reads everything: 3 pages of 5
            created = [writer.create_ticket(new_ticket()) for _ in range(3)]
            before = proxy.forwarded
            assert found_id(reader, created[0].external_conversation_id or "") == created[0].id
            assert proxy.forwarded - before == 1  # the last page of 5 held all three new tickets
            before = proxy.forwarded
            assert reader.find_by_conversation("nobody-has-this-conversation") is None
            assert proxy.forwarded - before == 1
        finally:
            writer.close()
            reader.close()


def _hide(helpdesk: HelpdeskServer, ticket_id: str) -> tuple[Any, ...]:
    """Take a ticket's row out of the helpdesk's database, as if its create had not committed."""
    with sqlite3.connect(helpdesk.data_dir / "helpdesk.sqlite3", timeout=30) as conn:
        row: tuple[Any, ...] = conn.execute(
            "SELECT * FROM helpdesk_ticket WHERE id = ?", (int(ticket_id),)
        ).fetchone()
        conn.execute("DELETE FROM helpdesk_ticket WHERE id = ?", (int(ticket_id),))
    conn.close()
    return row


def _commit_late(helpdesk: HelpdeskServer, row: tuple[Any, ...]) -> None:
    with sqlite3.connect(helpdesk.data_dir / "helpdesk.sqlite3", timeout=30) as conn:
        conn.execute(f"INSERT INTO helpdesk_ticket VALUES ({','.join('?' * len(row))})", row)
    conn.close()


def test_a_ticket_committed_after_a_newer_one_is_found(
    helpdesk: HelpdeskServer, helpdesk_adapter: HelpdeskAdapter
) -> None:
    # A helpdesk on PostgreSQL can show ticket N+1 before ticket N (ids are allocated before the
    # commit). Simulated in the helpdesk's SQLite database: N is hidden while the lookup passes
    # N+1, then appears.
    other = HelpdeskAdapter(helpdesk.url, helpdesk.token, queue=helpdesk.queue_id)
    try:
        assert helpdesk_adapter.find_by_conversation("warm-up-the-index") is None
        late, newer = new_ticket(), new_ticket()
        late_id = other.create_ticket(late).id
        row = _hide(helpdesk, late_id)
        newer_id = other.create_ticket(newer).id
        assert found_id(helpdesk_adapter, newer.external_conversation_id) == newer_id
        assert found_id(helpdesk_adapter, late.external_conversation_id) is None
        _commit_late(helpdesk, row)
        assert found_id(helpdesk_adapter, late.external_conversation_id) == late_id
    finally:
        other.close()


def test_deleting_tickets_between_lookups_loses_nothing(
    helpdesk_adapter: HelpdeskAdapter, proxied: HelpdeskAdapter
) -> None:
    assert proxied.find_by_conversation("warm-up-the-index") is None
    wanted = [new_ticket() for _ in range(5)]
    created = [helpdesk_adapter.create_ticket(t).id for t in wanted]
    for ticket_id in created[1::2]:
        helpdesk_adapter.set_status(ticket_id, "deleted")
    assert [found_id(proxied, t.external_conversation_id) for t in wanted] == [
        created[0],
        None,
        created[2],
        None,
        created[4],
    ]


def _ticket(ticket_id: int, conversation: str) -> TicketJson:
    description = f"body\n\n---\ncaseloop-conversation: {conversation}\n"
    return TicketJson(id=ticket_id, queue=1, title="t", description=description, status=1)


def test_the_floor_waits_below_a_hole_then_lets_it_go() -> None:
    now = [0.0]
    index = ConversationIndex(clock=lambda: now[0])
    index.absorb([_ticket(1, "a"), _ticket(2, "b")])
    assert index.floor == 2
    index.remember(_ticket(9, "c"))  # a create's answer: mapped, the floor stays
    assert (index.newest["c"], index.floor) == (9, 2)
    index.absorb([_ticket(3, "d"), _ticket(6, "e")])  # 4 and 5 missing: deleted, or late
    assert index.floor == 3
    now[0] = LATE_COMMIT_SECONDS / 2
    index.absorb([_ticket(5, "f"), _ticket(6, "e")])  # 5 arrives late
    assert (index.newest["f"], index.floor) == (5, 3)
    now[0] = LATE_COMMIT_SECONDS + 1
    index.absorb([_ticket(6, "e")])  # 4 never came: a deletion
    assert index.floor == 6
