"""The Request Tracker adapter against a real RT 5 on loopback (REST2)."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from collections.abc import Iterator

import httpx
import pytest

from ingestion.adapters import build_adapter
from ingestion.adapters.rt import RTAdapter, ticketsql_time
from ingestion.errors import TicketingRejected
from ingestion.settings import IngestionSettings
from ingestion.ticketing import TicketingAdapter, TicketStatus
from tests.ingestion.adapters.contract import AdapterContract, new_ticket, sort_key
from tests.support.loopback import free_port
from tests.support.rt_server import RTServer

pytestmark = pytest.mark.rt


def force_same_updated_at(server: RTServer, ticket_ids: list[str]) -> None:
    """REST2 cannot set LastUpdated, so write one stamp into RT's own database."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    with sqlite3.connect(server.data_dir / "rt.db", timeout=30) as conn:
        marks = ",".join("?" * len(ticket_ids))
        conn.execute(
            f"UPDATE Tickets SET LastUpdated = ? WHERE id IN ({marks})",
            [stamp, *map(int, ticket_ids)],
        )
    conn.close()


class RTSemantics:
    """Contract overrides for what RT cannot express: no duplicate status (a duplicate is
    rejected, read back as closed) and LastUpdated with second precision."""

    reopened_reads_as: TicketStatus = "reopened"

    @pytest.mark.parametrize(
        "path",
        [
            ("resolved",),
            ("closed",),
            ("resolved", "reopened"),
            ("closed", "open"),
            ("duplicate",),
            ("pending",),
            ("deleted",),
        ],
    )
    def test_status_changes_read_back(
        self, adapter: TicketingAdapter, path: tuple[TicketStatus, ...]
    ) -> None:
        created = adapter.create_ticket(new_ticket())
        for status in path:
            adapter.set_status(created.id, status)
        equivalents = {"duplicate": "closed", "reopened": self.reopened_reads_as}
        assert adapter.get_ticket(created.id).status == equivalents.get(path[-1], path[-1])

    def test_list_updated_since_orders_by_updated_at_then_id(
        self, adapter: TicketingAdapter
    ) -> None:
        first = adapter.create_ticket(new_ticket())
        assert first.updated_at is not None
        second = adapter.create_ticket(new_ticket())
        third = adapter.create_ticket(new_ticket())
        time.sleep(1.1)  # wait out the second so the comment's update is not a tie
        adapter.add_comment(first.id, "first moves to the end", public=False)
        listed = adapter.list_updated_since(first.updated_at, None, 1000)
        assert listed == sorted(listed, key=sort_key)
        ours = [t.id for t in listed if t.id in {first.id, second.id, third.id}]
        assert ours == [second.id, third.id, first.id]


class TestRTContract(RTSemantics, AdapterContract):
    @pytest.fixture
    def adapter(self, rt_adapter: RTAdapter) -> RTAdapter:
        return rt_adapter

    @pytest.fixture
    def unreachable_adapter(self) -> Iterator[RTAdapter]:
        adapter = RTAdapter(f"http://127.0.0.1:{free_port()}", token="x", timeout=2)
        yield adapter
        adapter.close()

    @pytest.fixture(autouse=True)
    def _server(self, rt: RTServer) -> None:
        self.server = rt

    def force_same_updated_at(self, adapter: TicketingAdapter, ticket_ids: list[str]) -> None:
        force_same_updated_at(self.server, ticket_ids)


def test_a_reply_reopens_a_resolved_ticket_and_a_note_does_not(rt_adapter: RTAdapter) -> None:
    created = rt_adapter.create_ticket(new_ticket())
    rt_adapter.set_status(created.id, "resolved")
    rt_adapter.add_comment(created.id, "internal: refund booked", public=False)
    assert rt_adapter.get_ticket(created.id).status == "resolved"
    rt_adapter.add_comment(created.id, "Anything else?", public=True)
    reopened = rt_adapter.get_ticket(created.id)
    assert (reopened.status, reopened.raw_status) == ("reopened", "open")


def test_status_moves_map_both_ways(rt_adapter: RTAdapter) -> None:
    created = rt_adapter.create_ticket(new_ticket())
    assert created.raw_status == "new"
    rt_adapter.set_status(created.id, "pending")
    assert rt_adapter.get_ticket(created.id).raw_status == "stalled"
    rt_adapter.set_status(created.id, "closed")
    assert rt_adapter.get_ticket(created.id).raw_status == "rejected"


def test_an_invalid_status_answered_with_200_is_rejected(rt: RTServer) -> None:
    adapter = RTAdapter(rt.url, token=rt.token, status_targets={"closed": "bogus"})
    created = adapter.create_ticket(new_ticket())
    with pytest.raises(TicketingRejected, match=r"bogus.*isn't a valid status"):
        adapter.set_status(created.id, "closed")
    assert adapter.get_ticket(created.id).raw_status == "new"
    adapter.close()


def test_an_unmapped_rt_status_names_itself(rt: RTServer, rt_adapter: RTAdapter) -> None:
    created = rt_adapter.create_ticket(new_ticket())
    rt_adapter.set_status(created.id, "pending")
    narrow = RTAdapter(rt.url, token=rt.token, status_map={"new": "open", "open": "open"})
    with pytest.raises(TicketingRejected, match="'stalled' is not mapped"):
        narrow.get_ticket(created.id)
    narrow.close()


def test_bodies_survive_unicode_and_lines(rt_adapter: RTAdapter) -> None:
    created = rt_adapter.create_ticket(new_ticket())
    text = "Grüße — naïve 🎉\nsecond line <b>not html</b>\n\nthird"
    sent = rt_adapter.add_comment(created.id, text, public=True)
    read = {c.id: c for c in rt_adapter.get_ticket(created.id).comments}
    assert read[sent.id].body == text
    assert (read[sent.id].author_role, read[sent.id].author) == ("bot", "caseloop")


def test_an_agent_reply_reads_as_agent(rt: RTServer, rt_adapter: RTAdapter) -> None:
    created = rt_adapter.create_ticket(new_ticket())
    agent = RTAdapter(rt.url, username="root", password="password")  # RT's initial superuser
    reply = agent.add_comment(created.id, "Hello from a human", public=True)
    agent.close()
    comment = {c.id: c for c in rt_adapter.get_ticket(created.id).comments}[reply.id]
    assert (comment.author, comment.author_role, comment.visibility) == ("root", "agent", "public")


def test_a_ticket_opened_in_rt_reads_with_its_opening_message(
    rt: RTServer, rt_adapter: RTAdapter
) -> None:
    opened = httpx.post(
        f"{rt.url}/REST/2.0/ticket",
        headers={"Authorization": f"token {rt.token}"},
        json={
            "Queue": "General",
            "Subject": "Printer offline",
            "Content": "Since Monday the printer on floor 2 is offline.",
            "ContentType": "text/plain",
            "Requestor": "someone@example.org",
        },
        timeout=30,
    )
    assert opened.status_code == 201, opened.text
    read = rt_adapter.get_ticket(str(opened.json()["id"]))
    assert read.external_conversation_id is None
    assert read.description == "Since Monday the printer on floor 2 is offline."
    assert read.in_queue
    own = rt_adapter.create_ticket(new_ticket())
    assert rt_adapter.get_ticket(own.id).description is None  # caseloop's: the store has it


def test_basic_auth_and_a_bad_token(rt: RTServer) -> None:
    basic = RTAdapter(rt.url, username=rt.username, password=rt.password)
    assert basic.create_ticket(new_ticket()).status == "open"
    basic.close()
    wrong = RTAdapter(rt.url, token="1-1-nope")
    with pytest.raises(TicketingRejected, match="401"):
        wrong.get_ticket("1")
    wrong.close()


def test_a_missing_custom_field_is_refused_before_creating(rt: RTServer) -> None:
    adapter = RTAdapter(rt.url, token=rt.token, conversation_field="no-such-field")
    before = httpx.get(f"{rt.api_url}/tickets", params={"query": "id > 0"}, headers=_auth(rt))
    with pytest.raises(TicketingRejected, match=r"rt_conversation_field.*no-such-field"):
        adapter.create_ticket(new_ticket())
    after = httpx.get(f"{rt.api_url}/tickets", params={"query": "id > 0"}, headers=_auth(rt))
    assert after.json()["total"] == before.json()["total"]
    adapter.close()


def test_updated_since_is_server_side_and_second_precise(rt_adapter: RTAdapter) -> None:
    created = rt_adapter.create_ticket(new_ticket())
    assert created.updated_at is not None
    # A cursor inside the ticket's second still returns it (the query floors to the second).
    inside = created.updated_at + dt.timedelta(microseconds=999_000)
    assert created.id in [t.id for t in rt_adapter.list_updated_since(inside, None, 1000)]
    after = created.updated_at + dt.timedelta(seconds=1)
    assert created.id not in [t.id for t in rt_adapter.list_updated_since(after, None, 1000)]


def test_ticketsql_time_is_utc_without_t_or_z() -> None:
    moment = dt.datetime(2026, 3, 1, 14, 5, 9, 700_000, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert ticketsql_time(moment) == "2026-03-01 12:05:09"


def test_build_adapter_returns_a_working_rt_adapter(rt: RTServer) -> None:
    settings = IngestionSettings(
        ticketing="rt",
        rt_url=rt.url,
        rt_token=rt.token,  # type: ignore[arg-type]
        rt_username=rt.username,
        rt_queue=rt.queue,
    )
    adapter = build_adapter(settings)
    assert isinstance(adapter, RTAdapter)
    created = adapter.create_ticket(new_ticket())
    assert adapter.get_ticket(created.id).external_conversation_id == (
        created.external_conversation_id
    )
    adapter.close()


def test_malformed_answers_name_the_field() -> None:
    # An edge we cannot make real RT produce: a ticket without a Status.
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"id": 7, "Subject": "x", "LastUpdated": "2026-01-01"})

    adapter = RTAdapter("http://rt.invalid", token="t", transport=httpx.MockTransport(answer))
    with pytest.raises(TicketingRejected, match="Status"):
        adapter.get_ticket("7")
    adapter.close()


def _auth(rt: RTServer) -> dict[str, str]:
    return {"Authorization": f"token {rt.token}"}


def test_a_queue_named_with_spaces_and_quotes_works(rt: RTServer) -> None:
    name = f"Billing & Refunds 'EU' {time.monotonic_ns()}"
    answer = httpx.post(f"{rt.api_url}/queue", json={"Name": name}, headers=_auth(rt), timeout=30)
    assert answer.status_code == 201, answer.text
    adapter = RTAdapter(rt.url, token=rt.token, queue=name)
    created = adapter.create_ticket(new_ticket())
    assert created.updated_at is not None
    listed = adapter.list_updated_since(created.updated_at, None, 10)
    assert [t.id for t in listed] == [created.id]  # only this queue's tickets
    adapter.close()


def test_token_only_auth_knows_its_own_replies_as_the_bots(rt: RTServer) -> None:
    """Without CASELOOP_RT_USERNAME the adapter's user is still the bot: its public replies are
    never forwarded to the customer as an agent's."""
    writer = RTAdapter(
        rt.url, token=rt.token, queue=rt.queue, conversation_field=rt.conversation_field
    )
    created = writer.create_ticket(new_ticket())
    ours = writer.add_comment(created.id, "We received your request.", public=True)
    writer.close()
    agent = RTAdapter(rt.url, username="root", password="password")  # RT's initial superuser
    theirs = agent.add_comment(created.id, "Hello from a human", public=True)
    agent.close()
    reader = RTAdapter(rt.url, token=rt.token, conversation_field=rt.conversation_field)
    comments = {c.id: c for c in reader.get_ticket(created.id).comments}
    reader.close()
    assert (comments[ours.id].author_role, comments[ours.id].author) == ("bot", rt.username)
    assert (comments[theirs.id].author_role, comments[theirs.id].author) == ("agent", "root")
