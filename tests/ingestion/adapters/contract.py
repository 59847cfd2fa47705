"""The ticketing adapter contract: tests every adapter must pass, written once.

A system's test module subclasses `AdapterContract` and provides two fixtures:

- ``adapter``: a `TicketingAdapter` on a real running system (shared with other tests, so the
  contract only ever looks at the tickets it created itself);
- ``unreachable_adapter``: the same adapter pointed at a loopback port nobody listens on.

Optionally it overrides `force_same_updated_at` (make several tickets share one ``updated_at``,
which real systems rarely produce on their own) to run the cursor tie tests.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from ingestion.errors import TicketingRejected, TicketingUnavailable
from ingestion.ticketing import (
    Capabilities,
    NewTicket,
    RemoteTicket,
    TicketingAdapter,
    TicketStatus,
)

EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def new_ticket(conversation: str | None = None, **changes: object) -> NewTicket:
    """A ticket for a fresh conversation, with a UUIDv5 idempotency key as the outbox makes."""
    conversation = conversation or f"conv-{uuid.uuid4()}"
    event = uuid.uuid4().hex
    fields: dict[str, object] = {
        "idempotency_key": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{conversation}:{event}")),
        "external_conversation_id": conversation,
        "tenant": "acme",
        "title": f"Refund question ({conversation[-6:]})",
        "body": "Reason: no_evidence\nIntent: refund\n\nTranscript:\ncustomer: where is my refund?",
        "customer_email": "customer@example.com",
        "payload": {"session_id": conversation, "escalation_event_id": event},
    }
    fields.update(changes)
    return NewTicket(**fields)  # type: ignore[arg-type]


def sort_key(ticket: RemoteTicket) -> tuple[dt.datetime, int | str]:
    """The cursor order: (updated_at, id), numeric ids compared as numbers."""
    assert ticket.updated_at is not None
    return ticket.updated_at, int(ticket.id) if ticket.id.isdigit() else ticket.id


def page_through(
    adapter: TicketingAdapter, since: dt.datetime, limit: int, wanted: set[str]
) -> list[str]:
    """Follow the cursor as a sync worker does: ``>=`` returns the cursor ticket again, so ask
    for one more than the page size and skip it."""
    cursor: tuple[dt.datetime, str | None] = (since, None)
    seen: list[str] = []
    for _ in range(200):
        page = adapter.list_updated_since(cursor[0], cursor[1], limit + 1)
        fresh = [t for t in page if (t.updated_at, t.id) != cursor][:limit]
        seen.extend(t.id for t in fresh)
        if wanted <= set(seen) or not fresh:
            return seen
        last = fresh[-1]
        assert last.updated_at is not None
        cursor = (last.updated_at, last.id)
    raise AssertionError("the cursor did not make progress")


class AdapterContract:
    """Behaviour every `TicketingAdapter` must show against its real system."""

    def force_same_updated_at(self, adapter: TicketingAdapter, ticket_ids: list[str]) -> None:
        pytest.skip("this system cannot be made to produce equal updated_at values")

    # -- shape -----------------------------------------------------------------------------
    def test_satisfies_the_protocol(self, adapter: TicketingAdapter) -> None:
        assert isinstance(adapter, TicketingAdapter)
        assert isinstance(adapter.capabilities, Capabilities)
        assert adapter.source

    def test_is_a_context_manager(self, adapter: TicketingAdapter) -> None:
        # Entering only: the fixture's adapter is shared and closed by its owner.
        assert adapter.__enter__() is adapter

    # -- create and find -------------------------------------------------------------------
    def test_create_returns_an_open_ticket_of_the_conversation(
        self, adapter: TicketingAdapter
    ) -> None:
        wanted = new_ticket()
        created = adapter.create_ticket(wanted)
        assert created.status == "open"
        assert created.title == wanted.title
        assert created.external_conversation_id == wanted.external_conversation_id
        assert created.customer_email == wanted.customer_email
        assert created.url
        assert created.id in created.url
        assert created.updated_at is not None
        assert created.updated_at.utcoffset() == dt.timedelta(0)

    def test_find_by_conversation_returns_the_created_ticket(
        self, adapter: TicketingAdapter
    ) -> None:
        created = adapter.create_ticket(new_ticket())
        found = adapter.find_by_conversation(created.external_conversation_id or "")
        assert found is not None
        assert (found.id, found.external_conversation_id) == (
            created.id,
            created.external_conversation_id,
        )

    def test_find_by_conversation_is_exact(self, adapter: TicketingAdapter) -> None:
        created = adapter.create_ticket(new_ticket())
        conversation = created.external_conversation_id or ""
        assert adapter.find_by_conversation(conversation[:-1]) is None
        assert adapter.find_by_conversation(conversation + "0") is None
        assert adapter.find_by_conversation(f"never-seen-{uuid.uuid4()}") is None

    def test_find_by_conversation_prefers_the_newest_ticket(
        self, adapter: TicketingAdapter
    ) -> None:
        conversation = f"conv-{uuid.uuid4()}"
        adapter.create_ticket(new_ticket(conversation))
        newer = adapter.create_ticket(new_ticket(conversation))
        found = adapter.find_by_conversation(conversation)
        assert found is not None
        assert found.id == newer.id

    def test_conversation_ids_survive_any_characters(self, adapter: TicketingAdapter) -> None:
        conversation = f"sess 1/ä?x=y&z#{uuid.uuid4()}\tend"
        created = adapter.create_ticket(new_ticket(conversation))
        assert created.external_conversation_id == conversation
        found = adapter.find_by_conversation(conversation)
        assert found is not None
        assert found.id == created.id

    # -- comments --------------------------------------------------------------------------
    def test_comments_keep_their_visibility(self, adapter: TicketingAdapter) -> None:
        created = adapter.create_ticket(new_ticket())
        public = adapter.add_comment(created.id, "We refunded you today.", public=True)
        internal = adapter.add_comment(created.id, "Refund id R-1, do not share.", public=False)
        assert (public.visibility, internal.visibility) == ("public", "internal")
        ticket = adapter.get_ticket(created.id)
        read = {c.id: c for c in ticket.comments}
        assert read[public.id].body == "We refunded you today."
        assert read[public.id].visibility == "public"
        assert read[internal.id].body == "Refund id R-1, do not share."
        assert read[internal.id].visibility == "internal"
        # The only public comment is the one sent as public: nothing else may reach the customer.
        assert [c.id for c in ticket.comments if c.visibility == "public"] == [public.id]
        assert all(c.created_at is not None for c in ticket.comments)

    def test_comments_come_back_in_order(self, adapter: TicketingAdapter) -> None:
        created = adapter.create_ticket(new_ticket())
        sent = [adapter.add_comment(created.id, f"note {n}", public=False).id for n in range(3)]
        read = [c.id for c in adapter.get_ticket(created.id).comments if c.id in sent]
        assert read == sent

    def test_comment_on_a_missing_ticket_is_rejected(self, adapter: TicketingAdapter) -> None:
        with pytest.raises(TicketingRejected):
            adapter.add_comment("987654321", "hello", public=False)

    # -- statuses --------------------------------------------------------------------------
    @pytest.mark.parametrize(
        "path",
        [("resolved",), ("closed",), ("resolved", "reopened"), ("closed", "open"), ("duplicate",)],
    )
    def test_status_changes_read_back(
        self, adapter: TicketingAdapter, path: tuple[TicketStatus, ...]
    ) -> None:
        created = adapter.create_ticket(new_ticket())
        for status in path:
            adapter.set_status(created.id, status)
            assert adapter.get_ticket(created.id).status == status

    def test_status_change_does_not_rename_or_leak(self, adapter: TicketingAdapter) -> None:
        created = adapter.create_ticket(new_ticket())
        adapter.set_status(created.id, "resolved")
        ticket = adapter.get_ticket(created.id)
        assert ticket.title == created.title
        assert not [c for c in ticket.comments if c.visibility == "public"]

    def test_get_missing_ticket_is_rejected(self, adapter: TicketingAdapter) -> None:
        with pytest.raises(TicketingRejected):
            adapter.get_ticket("987654321")

    # -- updated since ---------------------------------------------------------------------
    def test_list_updated_since_orders_by_updated_at_then_id(
        self, adapter: TicketingAdapter
    ) -> None:
        first = adapter.create_ticket(new_ticket())
        assert first.updated_at is not None
        second = adapter.create_ticket(new_ticket())
        third = adapter.create_ticket(new_ticket())
        adapter.add_comment(first.id, "first moves to the end", public=False)
        listed = adapter.list_updated_since(first.updated_at, None, 1000)
        assert listed == sorted(listed, key=sort_key)
        assert all(t.updated_at is not None and t.updated_at >= first.updated_at for t in listed)
        ours = [t.id for t in listed if t.id in {first.id, second.id, third.id}]
        assert ours == [second.id, third.id, first.id]

    def test_list_updated_since_is_inclusive_of_the_cursor(self, adapter: TicketingAdapter) -> None:
        created = adapter.create_ticket(new_ticket())
        assert created.updated_at is not None
        listed = adapter.list_updated_since(created.updated_at, created.id, 10)
        assert listed
        assert listed[0].id == created.id
        later = adapter.list_updated_since(created.updated_at + dt.timedelta(days=1), None, 10)
        assert created.id not in [t.id for t in later]

    def test_list_updated_since_respects_the_limit(self, adapter: TicketingAdapter) -> None:
        for _ in range(3):
            adapter.create_ticket(new_ticket())
        assert len(adapter.list_updated_since(EPOCH, None, 2)) == 2

    def test_paging_visits_every_ticket_once(self, adapter: TicketingAdapter) -> None:
        start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        ids = [adapter.create_ticket(new_ticket()).id for _ in range(4)]
        seen = page_through(adapter, start, 2, set(ids))
        assert [i for i in seen if i in ids] == ids
        assert len(seen) == len(set(seen))

    def test_cursor_ties_are_broken_by_id(self, adapter: TicketingAdapter) -> None:
        ids = [adapter.create_ticket(new_ticket()).id for _ in range(3)]
        self.force_same_updated_at(adapter, ids)
        tied = [adapter.get_ticket(i) for i in ids]
        stamp = tied[0].updated_at
        assert stamp is not None
        assert {t.updated_at for t in tied} == {stamp}
        listed = [t.id for t in adapter.list_updated_since(stamp, None, 1000) if t.id in ids]
        assert listed == sorted(ids, key=int)
        after_first = adapter.list_updated_since(stamp, listed[1], 1000)
        assert [t.id for t in after_first if t.id in ids] == listed[1:]
        seen = page_through(adapter, stamp, 1, set(ids))
        assert [i for i in seen if i in ids] == listed

    def test_naive_since_is_refused(self, adapter: TicketingAdapter) -> None:
        with pytest.raises(TicketingRejected, match="since"):
            adapter.list_updated_since(dt.datetime(2020, 1, 1), None, 10)

    # -- errors ----------------------------------------------------------------------------
    def test_unreachable_system_is_retryable(self, unreachable_adapter: TicketingAdapter) -> None:
        with pytest.raises(TicketingUnavailable):
            unreachable_adapter.create_ticket(new_ticket())
        with pytest.raises(TicketingUnavailable):
            unreachable_adapter.find_by_conversation("conv")
        with pytest.raises(TicketingUnavailable):
            unreachable_adapter.list_updated_since(EPOCH, None, 10)
