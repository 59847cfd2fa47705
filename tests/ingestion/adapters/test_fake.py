"""The test suite's in-memory ticketing system passes the contract the real adapters pass."""

from __future__ import annotations

import datetime as dt

import pytest

from ingestion.ticketing import TicketingAdapter
from tests.ingestion.adapters.contract import AdapterContract, new_ticket
from tests.support.fake_ticketing import FakeTicketing


class TestFakeContract(AdapterContract):
    @pytest.fixture
    def adapter(self) -> FakeTicketing:
        # Its clock starts now: the contract pages from "a second ago".
        return FakeTicketing(start=dt.datetime.now(dt.UTC))

    @pytest.fixture
    def unreachable_adapter(self) -> FakeTicketing:
        return FakeTicketing(reachable=False)

    def force_same_updated_at(self, adapter: TicketingAdapter, ticket_ids: list[str]) -> None:
        assert isinstance(adapter, FakeTicketing)
        stamp = adapter.get_ticket(ticket_ids[0]).updated_at
        assert stamp is not None
        adapter.same_time(ticket_ids, stamp)


def test_the_fake_is_a_context_manager() -> None:
    with FakeTicketing() as fake:
        fake.create_ticket(new_ticket())
    assert fake.calls == ["create_ticket", "close"]
