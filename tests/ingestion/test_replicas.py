"""(slow) Replicas on one PostgreSQL: two `caseloop serve`, three relays, two inbox workers, and a
replica SIGKILLed mid-traffic. Every acknowledged escalation becomes exactly one ticket, every
webhook delivery is applied once, no message is doubled."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from flows.helpdesk import HelpdeskServer
from ingestion.adapters import HelpdeskAdapter
from ingestion.schema import Escalation, OutgoingMessage, Ticket, WebhookDelivery
from ingestion.store import Store
from tests.ingestion.test_relay_helpdesk import tickets_by_conversation
from tests.support.fake_ticketing import escalation_payload, later_event
from tests.support.fleet import Fleet, post_any, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.helpdesk, pytest.mark.postgres]
TOKEN = "replica-soak-url-token"
SESSIONS = int(os.environ.get("CASELOOP_SOAK_SESSIONS", "30"))


@pytest.fixture
def fleet(
    postgres_store: Store, helpdesk: HelpdeskServer, tmp_path: Path
) -> Iterator[tuple[Fleet, list[str]]]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CASELOOP_")},
        "CASELOOP_DATABASE_URL": postgres_store.engine.url.render_as_string(hide_password=False),
        "CASELOOP_HELPDESK_URL": helpdesk.url,
        "CASELOOP_HELPDESK_TOKEN": helpdesk.token,
        "CASELOOP_HELPDESK_QUEUE": str(helpdesk.queue_id),
        "CASELOOP_HELPDESK_WEBHOOK_TOKEN": TOKEN,
        "CASELOOP_RELAY_LEASE_SECONDS": "30",  # above the slowest ticketing call (10 s)
        "CASELOOP_RELAY_BASE_DELAY": "0.2",
        "CASELOOP_RELAY_POLL_INTERVAL": "0.1",
        "CASELOOP_INBOX_POLL_INTERVAL": "0.1",
    }
    fleet = Fleet(env, tmp_path)
    try:
        urls = [fleet.serve("serve-a"), fleet.serve("serve-b")]
        for n in range(3):
            fleet.start(f"relay-{n}", "relay")
        for n in range(2):
            fleet.start(f"inbox-{n}", "webhooks", "worker")
        yield fleet, urls
    finally:
        fleet.stop_all()


def _count(store: Store, *where: object) -> int:
    with store.transaction() as tx:
        return int(tx.scalar(select(func.count()).where(*where)) or 0)  # type: ignore[arg-type]


def test_replicas_with_one_killed_deliver_and_apply_everything_once(
    fleet: tuple[Fleet, list[str]],
    postgres_store: Store,
    helpdesk: HelpdeskServer,
) -> None:
    processes, urls = fleet
    store, prefix = postgres_store, f"rep-{uuid.uuid4().hex[:8]}-"
    acknowledged: set[tuple[str, str]] = set()
    started = time.monotonic()
    for n in range(SESSIONS):
        payload = escalation_payload(f"{prefix}{n}")
        order = urls if n % 2 == 0 else urls[::-1]  # alternate the replicas
        for body in (payload, later_event(payload, "ev-2", "Anyone there?"))[: 1 + (n % 3 == 0)]:
            answer = post_any(order, "/escalations", json=body)
            if answer is not None and answer.status_code in (200, 201):
                acknowledged.add((body["session_id"], body["escalation_event_id"]))
        if n == SESSIONS // 3:
            processes.kill("serve-a")  # mid-traffic: the rest goes to serve-b only
    wait_for(lambda: _count(store, Escalation.state == "pending") == 0, 180)
    escalated = time.monotonic() - started
    assert len(acknowledged) == SESSIONS + len(range(0, SESSIONS, 3))
    with store.transaction() as tx:
        states = dict(
            tx.execute(select(Escalation.state, func.count()).group_by(Escalation.state)).all()
        )
    assert states == {"delivered": len(acknowledged)}
    tickets = tickets_by_conversation(helpdesk, prefix)
    assert len(tickets) == SESSIONS
    assert all(len(found) == 1 for found in tickets.values())  # one ticket per conversation

    # Agents answer every ticket; each follow-up's webhook reaches serve-b twice (and the dead
    # replica once): stored once, applied once, forwarded once.
    adapter = HelpdeskAdapter(helpdesk.url, helpdesk.token, queue=helpdesk.queue_id)
    with store.transaction() as tx:
        mirrored = list(
            tx.scalars(select(Ticket.external_id).where(Ticket.session_id.like(f"{prefix}%")))
        )
    started = time.monotonic()
    delivered_ids = set()
    try:
        for external_id in mirrored:
            followup = adapter.add_comment(external_id, "Fixed: please try again.", public=True)
            hint = {"ticket": {"id": int(external_id)}, "followup_id": int(followup.id)}
            for _ in range(2):
                answer = post_any(urls, "/webhooks/helpdesk", params={"token": TOKEN}, json=hint)
                assert answer is not None
                assert answer.status_code in (200, 202), answer.text
                delivered_ids.add(answer.json()["delivery_id"])
    finally:
        adapter.close()
    wait_for(lambda: _count(store, WebhookDelivery.state == "processed") >= len(delivered_ids), 180)
    applied = time.monotonic() - started
    with store.transaction() as tx:
        deliveries = list(
            tx.execute(select(WebhookDelivery.delivery_id, WebhookDelivery.state)).all()
        )
        messages = dict(
            tx.execute(
                select(OutgoingMessage.session_id, func.count())
                .where(OutgoingMessage.session_id.like(f"{prefix}%"))
                .group_by(OutgoingMessage.session_id)
            ).all()
        )
    ours = [(d, s) for d, s in deliveries if d in delivered_ids]
    assert sorted(d for d, _ in ours) == sorted(delivered_ids)  # one row per delivery
    assert {s for _, s in ours} == {"processed"}
    assert messages == {f"{prefix}{n}": 1 for n in range(SESSIONS)}  # none doubled, none lost
    print(
        f"\nreplica soak: {len(acknowledged)} escalations acknowledged, "
        f"{states['delivered']} delivered, {len(tickets)} tickets (one each), "
        f"{len(delivered_ids)} webhook deliveries ({2 * len(delivered_ids)} posts) applied once, "
        f"{sum(messages.values())} messages; escalations drained in {escalated:.1f}s, "
        f"webhooks applied in {applied:.1f}s"
    )
