"""The escalation path against a real django-helpdesk, with faults injected by a loopback proxy.

Outcome in every case: one ticket per conversation, no escalation lost.
"""

from __future__ import annotations

import collections
import datetime as dt
import random
import uuid
from collections.abc import Iterator

import httpx
import pytest

from flows.helpdesk import HelpdeskServer
from ingestion import EscalationRequest, IngestionSettings, Relay, escalate, get_escalation
from ingestion.adapters import HelpdeskAdapter
from ingestion.adapters.helpdesk import conversation_marker
from ingestion.http import create_app
from ingestion.store import Store
from tests.support.fake_ticketing import FakeClock, escalation_payload, later_event
from tests.support.fault_proxy import FaultProxy
from tests.support.keys import bearer
from tests.support.loopback import serve

pytestmark = pytest.mark.helpdesk
SETTINGS = IngestionSettings(relay_base_delay=1.0, relay_max_delay=30.0, relay_max_attempts=8)


def tickets_by_conversation(helpdesk: HelpdeskServer, prefix: str) -> dict[str, list[dict]]:  # type: ignore[type-arg]
    """Every ticket the helpdesk holds whose session id starts with ``prefix``, by session."""
    found: dict[str, list[dict]] = collections.defaultdict(list)  # type: ignore[type-arg]
    url: str | None = f"{helpdesk.api_url}tickets/?page_size=500"
    headers = {"Authorization": f"Token {helpdesk.token}"}
    while url:
        page = httpx.get(url, headers=headers, timeout=30).json()
        for ticket in page["results"]:
            # The helpdesk holds a tenant's conversation as <tenant>/<session> (ingestion.tenancy).
            conversation = (conversation_marker(ticket["description"]) or "").rpartition("/")[2]
            if conversation and conversation.startswith(prefix):
                found[conversation].append(ticket)
        url = page["next"]
    return dict(found)


@pytest.fixture
def proxy(helpdesk: HelpdeskServer) -> Iterator[FaultProxy]:
    with FaultProxy(helpdesk.url, hang_seconds=3.5, seed=3) as proxy:
        yield proxy


@pytest.fixture
def adapter(helpdesk: HelpdeskServer, proxy: FaultProxy) -> Iterator[HelpdeskAdapter]:
    adapter = HelpdeskAdapter(proxy.url, helpdesk.token, queue=helpdesk.queue_id, timeout=3.0)
    yield adapter
    adapter.close()


def relay_for(store: Store, adapter: HelpdeskAdapter) -> tuple[Relay, FakeClock]:
    clock = FakeClock(dt.datetime.now(dt.UTC))  # HTTP requests stamp rows with the real time
    return Relay(
        store, adapter, SETTINGS, clock=clock, sleep=clock.sleep, rng=random.Random(5)
    ), clock


def send(store: Store, clock: FakeClock, payload: dict[str, object]) -> str:
    return escalate(
        store, EscalationRequest.model_validate(payload), settings=SETTINGS, clock=clock
    ).id


def test_http_escalation_becomes_one_readable_ticket_then_a_note(
    store: Store, helpdesk: HelpdeskServer, adapter: HelpdeskAdapter
) -> None:
    prefix = f"it-{uuid.uuid4().hex[:8]}-"
    first = escalation_payload(f"{prefix}a")
    app = create_app(SETTINGS, store)
    with serve(app) as url, httpx.Client(headers=bearer(store)) as client:
        created = client.post(f"{url}/escalations", json=first)
        assert created.status_code == 201
        relay, clock = relay_for(store, adapter)  # its clock starts after the request
        relay.drain()
        shown = client.get(f"{url}/escalations/{created.json()['id']}").json()
        assert shown["state"] == "delivered"
        assert (
            shown["ticket_url"] == f"{proxy_base(adapter)}/helpdesk/tickets/{shown['ticket_id']}/"
        )
        second = later_event(first, "ev-2", "Still charged twice.", reason="conflict")
        assert client.post(f"{url}/escalations", json=second).json()["kind"] == "update"
        assert client.post(f"{url}/escalations", json=first).status_code == 200  # duplicate
        clock.sleep(5)
        relay.drain()
    [ticket] = tickets_by_conversation(helpdesk, prefix)[f"{prefix}a"]
    description = ticket["description"]
    assert ticket["title"] == "billing.vat [no_evidence]"
    assert description.startswith("**Reason:** No evidence")
    assert (
        "1. How VAT is calculated <https://kb.example.com/12> (article; score 0.410;" in description
    )
    assert "> My invoice shows VAT twice." in description
    assert '"reason":"no_evidence"' in description  # the machine-readable copy
    notes = [f for f in ticket["followup_set"] if "again" in (f["comment"] or "")]
    assert len(notes) == 1
    assert notes[0]["public"] is False
    assert "**Reason changed:** no_evidence → conflict" in notes[0]["comment"]


def proxy_base(adapter: HelpdeskAdapter) -> str:
    return adapter.base_url


def test_helpdesk_down_while_escalations_arrive(
    store: Store, helpdesk: HelpdeskServer, adapter: HelpdeskAdapter, proxy: FaultProxy
) -> None:
    prefix = f"down-{uuid.uuid4().hex[:8]}-"
    relay, clock = relay_for(store, adapter)
    proxy.stop()
    keys = [send(store, clock, escalation_payload(f"{prefix}{n}")) for n in range(4)]
    keys.append(send(store, clock, later_event(escalation_payload(f"{prefix}0"), "ev-2", "Hello?")))
    report = relay.drain()
    assert (report.delivered, report.retried) == (0, 4)  # notes wait behind their ticket
    assert get_escalation(store, keys[0]).last_error.startswith("unavailable: ")  # type: ignore[union-attr]
    proxy.start()
    relay.drain(wait=True)
    assert {get_escalation(store, k).state for k in keys} == {"delivered"}
    held = tickets_by_conversation(helpdesk, prefix)
    assert {c: len(t) for c, t in held.items()} == {f"{prefix}{n}": 1 for n in range(4)}


@pytest.mark.parametrize("fault", ["500_after", "timeout_after", "500", "timeout"])
def test_injected_faults_leave_one_ticket_and_one_note(
    store: Store, helpdesk: HelpdeskServer, adapter: HelpdeskAdapter, proxy: FaultProxy, fault: str
) -> None:
    prefix = f"{fault}-{uuid.uuid4().hex[:8]}-"
    relay, clock = relay_for(store, adapter)
    first = escalation_payload(f"{prefix}a")
    keys = [send(store, clock, first), send(store, clock, later_event(first, "ev-2", "Hello?"))]
    proxy.plan(fault, fault)  # the create fails, then the note fails
    relay.drain(wait=True)
    assert [get_escalation(store, k).state for k in keys] == ["delivered", "delivered"]
    assert sum(proxy.injected.values()) == 2
    [ticket] = tickets_by_conversation(helpdesk, prefix)[f"{prefix}a"]
    notes = [
        f
        for f in ticket["followup_set"]
        if "escalated this conversation again" in (f["comment"] or "")
    ]
    assert len(notes) == 1


def test_429_retry_after_is_honoured(
    store: Store, helpdesk: HelpdeskServer, adapter: HelpdeskAdapter, proxy: FaultProxy
) -> None:
    prefix = f"429-{uuid.uuid4().hex[:8]}-"
    relay, clock = relay_for(store, adapter)
    key = send(store, clock, escalation_payload(f"{prefix}a"))
    proxy.plan("429")
    start = clock.now
    relay.drain(wait=True)
    assert get_escalation(store, key).state == "delivered"
    assert (clock.now - start).total_seconds() >= 1.0
    assert len(tickets_by_conversation(helpdesk, prefix)[f"{prefix}a"]) == 1


def test_ticket_resolved_before_the_retry_is_adopted(
    store: Store, helpdesk: HelpdeskServer, adapter: HelpdeskAdapter, proxy: FaultProxy
) -> None:
    prefix = f"resolved-{uuid.uuid4().hex[:8]}-"
    relay, clock = relay_for(store, adapter)
    key = send(store, clock, escalation_payload(f"{prefix}a"))
    proxy.plan("500_after")
    relay.drain()
    [ticket] = tickets_by_conversation(helpdesk, prefix)[f"{prefix}a"]
    adapter.set_status(str(ticket["id"]), "resolved")
    relay.drain(wait=True)
    assert get_escalation(store, key).ticket_id == str(ticket["id"])
    assert len(tickets_by_conversation(helpdesk, prefix)[f"{prefix}a"]) == 1


def test_lost_create_is_found_after_later_creates(
    store: Store, helpdesk: HelpdeskServer, adapter: HelpdeskAdapter, proxy: FaultProxy
) -> None:
    prefix = f"lost-{uuid.uuid4().hex[:8]}-"
    relay, clock = relay_for(store, adapter)
    send(store, clock, escalation_payload(f"{prefix}a"))
    send(store, clock, escalation_payload(f"{prefix}b"))
    proxy.plan("500_after")  # a's ticket is created but its answer lost; b's create succeeds
    relay.drain(wait=True)
    held = tickets_by_conversation(helpdesk, prefix)
    assert {c: len(t) for c, t in held.items()} == {f"{prefix}a": 1, f"{prefix}b": 1}
