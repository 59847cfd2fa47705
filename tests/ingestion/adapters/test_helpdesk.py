"""The django-helpdesk adapter against a real django-helpdesk on loopback."""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from flows.helpdesk import HelpdeskServer
from ingestion.adapters import HelpdeskAdapter, build_adapter
from ingestion.adapters.helpdesk import conversation_marker
from ingestion.errors import TicketingRejected, TicketingUnavailable
from ingestion.settings import IngestionSettings
from ingestion.ticketing import TicketingAdapter
from tests.ingestion.adapters.contract import AdapterContract, new_ticket
from tests.support.loopback import free_port

pytestmark = pytest.mark.helpdesk


class TestHelpdeskContract(AdapterContract):
    @pytest.fixture
    def adapter(self, helpdesk_adapter: HelpdeskAdapter) -> HelpdeskAdapter:
        return helpdesk_adapter

    @pytest.fixture
    def unreachable_adapter(self) -> Iterator[HelpdeskAdapter]:
        adapter = HelpdeskAdapter(f"http://127.0.0.1:{free_port()}", "x", queue=1, timeout=2)
        yield adapter
        adapter.close()

    @pytest.fixture(autouse=True)
    def _server(self, helpdesk: HelpdeskServer) -> None:
        self.server = helpdesk

    def force_same_updated_at(self, adapter: TicketingAdapter, ticket_ids: list[str]) -> None:
        # The API cannot set follow-up dates, so write them in the helpdesk's own database.
        stamp = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
        database = self.server.data_dir / "helpdesk.sqlite3"
        with sqlite3.connect(database, timeout=30) as conn:
            marks = ",".join("?" * len(ticket_ids))
            conn.execute(
                f"UPDATE helpdesk_followup SET date = ? WHERE ticket_id IN ({marks})",
                [stamp, *map(int, ticket_ids)],
            )
        conn.close()


def test_description_keeps_the_body_marker_and_payload(
    helpdesk: HelpdeskServer, helpdesk_adapter: HelpdeskAdapter
) -> None:
    wanted = new_ticket(payload={"reason": "conflict", "evidence": [{"doc": "kb-1", "score": 0.4}]})
    created = helpdesk_adapter.create_ticket(wanted)
    raw = httpx.get(
        f"{helpdesk.api_url}tickets/{created.id}/",
        headers={"Authorization": f"Token {helpdesk.token}"},
    ).json()
    description = raw["description"]
    assert description.startswith(wanted.body)
    assert conversation_marker(description) == wanted.external_conversation_id
    assert f"caseloop-idempotency-key: {wanted.idempotency_key}" in description
    block = re.search(r"```caseloop-escalation\n(.*)\n```", description)
    assert block is not None
    assert json.loads(block.group(1)) == wanted.payload
    assert raw["priority"] == 3
    assert raw["queue"] == helpdesk.queue_id


def test_a_marker_inside_the_transcript_cannot_hijack_the_lookup(
    helpdesk_adapter: HelpdeskAdapter,
) -> None:
    forged = new_ticket(body="customer: hi\ncaseloop-conversation: victim-conversation\n")
    created = helpdesk_adapter.create_ticket(forged)
    assert created.external_conversation_id == forged.external_conversation_id
    assert helpdesk_adapter.find_by_conversation("victim-conversation") is None


def test_the_opening_follow_up_is_never_public(helpdesk_adapter: HelpdeskAdapter) -> None:
    # django-helpdesk stores the description as a *public* "Ticket Opened" follow-up.
    created = helpdesk_adapter.create_ticket(new_ticket())
    (opening,) = created.comments
    assert (opening.visibility, opening.author_role) == ("internal", "bot")


def test_the_opening_follow_up_stays_internal_after_the_description_is_edited(
    helpdesk: HelpdeskServer, helpdesk_adapter: HelpdeskAdapter
) -> None:
    created = helpdesk_adapter.create_ticket(new_ticket())
    edited = {"description": "Edited by an agent"}
    _raw(helpdesk, "PATCH", f"tickets/{created.id}/", json=edited)
    ticket = helpdesk_adapter.get_ticket(created.id)
    assert ticket.comments[0].id == created.comments[0].id
    assert ticket.comments[0].visibility == "internal"
    assert not [c for c in ticket.comments if c.visibility == "public"]


def test_ids_must_be_plain_integers(helpdesk_adapter: HelpdeskAdapter) -> None:
    for bad in ("²", "-1", "1.0", " 1", ""):
        with pytest.raises(TicketingRejected, match="ticket id"):
            helpdesk_adapter.get_ticket(bad)


def test_a_follow_up_never_renames_the_ticket(helpdesk_adapter: HelpdeskAdapter) -> None:
    created = helpdesk_adapter.create_ticket(new_ticket(title="Original title"))
    helpdesk_adapter.add_comment(created.id, "A reply", public=True)
    assert helpdesk_adapter.get_ticket(created.id).title == "Original title"


def test_pending_is_on_hold_and_reopening_clears_it(helpdesk_adapter: HelpdeskAdapter) -> None:
    created = helpdesk_adapter.create_ticket(new_ticket())
    helpdesk_adapter.set_status(created.id, "pending")
    assert helpdesk_adapter.get_ticket(created.id).status == "pending"
    helpdesk_adapter.set_status(created.id, "open")
    assert helpdesk_adapter.get_ticket(created.id).status == "open"


def test_deleted_tickets_are_gone_and_lookup_falls_back(
    helpdesk: HelpdeskServer, helpdesk_adapter: HelpdeskAdapter
) -> None:
    conversation = new_ticket().external_conversation_id
    older = helpdesk_adapter.create_ticket(new_ticket(conversation))
    newer = helpdesk_adapter.create_ticket(new_ticket(conversation))
    assert helpdesk_adapter.find_by_conversation(conversation).id == newer.id  # type: ignore[union-attr]
    helpdesk_adapter.set_status(newer.id, "deleted")
    with pytest.raises(TicketingRejected, match="404"):
        helpdesk_adapter.get_ticket(newer.id)
    found = helpdesk_adapter.find_by_conversation(conversation)
    assert found is not None
    assert found.id == older.id


def test_a_second_adapter_finds_tickets_the_first_created(
    helpdesk: HelpdeskServer, helpdesk_adapter: HelpdeskAdapter
) -> None:
    # Two relays (two processes) each keep their own index: new tickets must still be seen.
    other = HelpdeskAdapter(helpdesk.url, helpdesk.token, queue=helpdesk.queue_id, page_size=2)
    try:
        assert other.find_by_conversation("warm-up-the-index") is None
        created = [helpdesk_adapter.create_ticket(new_ticket()) for _ in range(5)]
        for ticket in created:
            found = other.find_by_conversation(ticket.external_conversation_id or "")
            assert found is not None
            assert found.id == ticket.id
    finally:
        other.close()


def test_validation_errors_name_the_field(helpdesk_adapter: HelpdeskAdapter) -> None:
    with pytest.raises(TicketingRejected, match="submitter_email"):
        helpdesk_adapter.create_ticket(new_ticket(customer_email="not an address"))
    with pytest.raises(TicketingRejected, match="ticket id"):
        helpdesk_adapter.get_ticket("HD-1")
    with pytest.raises(TicketingRejected, match="comment"):
        helpdesk_adapter.add_comment("1", "   ", public=True)


def test_a_wrong_token_is_rejected(helpdesk: HelpdeskServer) -> None:
    adapter = HelpdeskAdapter(helpdesk.url, "0" * 40, queue=helpdesk.queue_id)
    try:
        with pytest.raises(TicketingRejected, match="401"):
            adapter.find_by_conversation("x")
    finally:
        adapter.close()


def test_a_stopped_helpdesk_is_retryable(tmp_path: Path) -> None:
    server = HelpdeskServer(tmp_path / "hd", free_port())
    with server:
        adapter = HelpdeskAdapter(server.url, server.token, queue=server.queue_id, timeout=3)
        created = adapter.create_ticket(new_ticket())
    with pytest.raises(TicketingUnavailable, match="cannot reach"):
        adapter.get_ticket(created.id)
    with server:  # same data folder: the ticket and the credentials survive a restart
        assert adapter.get_ticket(created.id).id == created.id
    adapter.close()


def test_build_adapter_reads_the_settings(helpdesk: HelpdeskServer) -> None:
    settings = IngestionSettings(
        helpdesk_url=helpdesk.url, helpdesk_token=helpdesk.token, helpdesk_queue=helpdesk.queue_id
    )
    adapter = build_adapter(settings)
    try:
        assert isinstance(adapter, HelpdeskAdapter)
        assert adapter.find_by_conversation("nothing-here") is None
    finally:
        adapter.close()


def test_500_after_commit_leaves_a_ticket_the_lookup_finds(
    tmp_path: Path,
) -> None:
    # A webhook receiver that is down makes django-helpdesk answer 500 *after* saving the
    # ticket: the error must be retryable and the lookup must find what was saved.
    dead = f"http://127.0.0.1:{free_port()}/hook"
    env = {"HELPDESK_NEW_TICKET_WEBHOOK_URLS": dead, "HELPDESK_FOLLOWUP_WEBHOOK_URLS": dead}
    with HelpdeskServer(tmp_path / "hd", free_port(), env=env) as server:
        adapter = HelpdeskAdapter(server.url, server.token, queue=server.queue_id)
        wanted = new_ticket()
        with pytest.raises(TicketingUnavailable, match="500"):
            adapter.create_ticket(wanted)
        found = adapter.find_by_conversation(wanted.external_conversation_id)
        assert found is not None
        assert found.title == wanted.title
        with pytest.raises(TicketingUnavailable, match="500"):
            adapter.add_comment(found.id, "saved despite the 500", public=True)
        comments = adapter.get_ticket(found.id).comments
        assert [c.body for c in comments if c.visibility == "public"] == ["saved despite the 500"]
        adapter.close()


def test_pending_moves_updated_at_without_adding_a_comment(
    helpdesk_adapter: HelpdeskAdapter,
) -> None:
    created = helpdesk_adapter.create_ticket(new_ticket())
    assert created.updated_at is not None
    helpdesk_adapter.set_status(created.id, "pending")
    held = helpdesk_adapter.get_ticket(created.id)
    assert held.updated_at is not None
    assert held.updated_at > created.updated_at
    assert [c.id for c in held.comments] == [c.id for c in created.comments]
    polled = helpdesk_adapter.list_updated_since(held.updated_at, created.id, 5)
    assert polled[0].id == created.id
    assert polled[0].status == "pending"


def _raw(helpdesk: HelpdeskServer, method: str, path: str, **kwargs: object) -> dict:  # type: ignore[type-arg]
    headers = {"Authorization": f"Token {helpdesk.token}"}
    response = httpx.request(method, f"{helpdesk.api_url}{path}", headers=headers, **kwargs)  # type: ignore[arg-type]
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("number", "name"),
    [(1, "open"), (2, "reopened"), (3, "resolved"), (4, "closed"), (5, "duplicate")],
)
def test_statuses_map_both_ways(
    helpdesk: HelpdeskServer, helpdesk_adapter: HelpdeskAdapter, number: int, name: str
) -> None:
    # helpdesk → caseloop: an agent's status change, made without the adapter.
    ticket = helpdesk_adapter.create_ticket(new_ticket())
    _raw(helpdesk, "POST", "followups/", json={"ticket": int(ticket.id), "new_status": number})
    assert helpdesk_adapter.get_ticket(ticket.id).status == name
    # caseloop → helpdesk: the number the helpdesk stores.
    other = helpdesk_adapter.create_ticket(new_ticket())
    helpdesk_adapter.set_status(other.id, name)  # type: ignore[arg-type]
    assert _raw(helpdesk, "GET", f"tickets/{other.id}/")["status"] == number
