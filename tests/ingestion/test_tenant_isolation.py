"""Two tenants, two keys, one multi-tenant service, the real django-helpdesk, both stores.

Both tenants use the same session id and event id. Neither can read, write, escalate into or
learn of the other's sessions, escalations, messages or outcomes: every attempt is a 404 that
names nothing, or a 403 when the request itself names the other tenant.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from flows.helpdesk import HelpdeskServer
from ingestion import IngestionSettings, Relay
from ingestion.adapters import HelpdeskAdapter
from ingestion.http import create_app
from ingestion.messages import list_messages
from ingestion.store import Store
from ingestion.sync import SyncWorker
from tests.support.fake_ticketing import escalation_payload, later_event
from tests.support.keys import bearer
from tests.support.loopback import serve

pytestmark = pytest.mark.helpdesk
SETTINGS = IngestionSettings(multi_tenant=True, api_key_cache_seconds=0.0)
SCOPES = ("escalate", "messages:read", "outcomes:write")


@dataclass
class Attempts:
    """Cross-tenant attempts made and how each was refused."""

    made: list[tuple[str, int]] = field(default_factory=list)

    def refused(self, what: str, response: httpx.Response, *, leak: str, status: int) -> None:
        self.made.append((what, response.status_code))
        assert response.status_code == status, (what, response.text)
        assert leak not in response.text, (what, response.text)


@pytest.fixture
def service(store: Store) -> Iterator[str]:
    with serve(create_app(SETTINGS, store)) as url:
        yield url


def payload(session: str, event: str, tenant: str, text: str) -> dict[str, object]:
    body = escalation_payload(session, event)
    body.pop("tenant")  # the key says whose it is
    body["transcript"] = [{"role": "customer", "text": text, "at": "2026-03-02T09:00:00Z"}]
    return body


def test_two_tenants_cannot_reach_each_other(
    store: Store, service: str, helpdesk: HelpdeskServer, helpdesk_adapter: HelpdeskAdapter
) -> None:
    session = f"shared-{uuid.uuid4().hex[:8]}"
    alpha = httpx.Client(base_url=service, headers=bearer(store, tenant="alpha", scopes=SCOPES))
    beta = httpx.Client(base_url=service, headers=bearer(store, tenant="beta", scopes=SCOPES))
    attempts = Attempts()
    secret_text = "alpha-only: invoice 7781 for Globex"

    a1 = alpha.post("/escalations", json=payload(session, "e1", "alpha", secret_text))
    assert (a1.status_code, a1.json()["kind"], a1.json()["tenant"]) == (201, "create", "alpha")
    alpha_id = a1.json()["id"]
    Relay(store, helpdesk_adapter, SETTINGS).drain()

    # Same session and event as beta: a new escalation of beta's own, never a note on alpha's.
    b1 = beta.post("/escalations", json=payload(session, "e1", "beta", "beta asks about VAT"))
    attempts.made.append(("escalate into alpha's session", b1.status_code))
    assert (b1.status_code, b1.json()["kind"], b1.json()["tenant"]) == (201, "create", "beta")
    assert b1.json()["id"] != alpha_id
    assert alpha_id not in b1.text
    named = beta.post("/escalations", json={**payload(session, "e2", "", "x"), "tenant": "alpha"})
    attempts.refused("escalate naming alpha", named, leak=alpha_id, status=403)
    Relay(store, helpdesk_adapter, SETTINGS).drain()

    a_view = alpha.get(f"/escalations/{alpha_id}").json()
    b_view = beta.get(f"/escalations/{b1.json()['id']}").json()
    assert a_view["state"] == b_view["state"] == "delivered"
    assert a_view["ticket_id"] != b_view["ticket_id"]  # one ticket per tenant's conversation
    alpha_ticket = helpdesk_adapter.get_ticket(a_view["ticket_id"])
    assert all("beta asks" not in c.body for c in alpha_ticket.comments)
    attempts.refused(
        "read alpha's escalation",
        beta.get(f"/escalations/{alpha_id}"),
        leak=secret_text,
        status=404,
    )
    assert "alpha" not in beta.get(f"/escalations/{alpha_id}").text

    # An agent answers alpha's ticket: only alpha's session receives the reply.
    helpdesk_adapter.add_comment(a_view["ticket_id"], "Refund issued, alpha.", public=True)
    SyncWorker(store, helpdesk_adapter, SETTINGS).poll_once()
    mine = alpha.get(f"/sessions/{session}/messages").json()
    assert [m["body"] for m in mine["messages"]] == ["Refund issued, alpha."]
    theirs = beta.get(f"/sessions/{session}/messages")
    attempts.made.append(("read alpha's messages", theirs.status_code))
    assert theirs.json()["messages"] == []
    assert "Refund issued" not in theirs.text
    after_alpha = beta.get(
        f"/sessions/{session}/messages", params={"after": mine["messages"][0]["id"]}
    )
    attempts.refused("page after alpha's message", after_alpha, leak="alpha", status=404)
    named_read = beta.get(f"/sessions/{session}/messages", params={"tenant": "alpha"})
    attempts.refused("read naming alpha", named_read, leak="Refund", status=403)
    assert list_messages(store, session, tenant="beta") == []

    # Outcomes: each tenant has its own; beta can neither overwrite nor read alpha's.
    done = {"outcome": "answered_by_bot", "confirmation": "confirmed"}
    assert alpha.post(f"/sessions/{session}/outcome", json=done).status_code == 201
    overwrite = beta.post(
        f"/sessions/{session}/outcome", json={**done, "outcome": "abandoned", "tenant": "alpha"}
    )
    attempts.refused("overwrite alpha's outcome", overwrite, leak="answered_by_bot", status=403)
    peek = beta.get(f"/sessions/{session}/outcome")
    attempts.refused("read alpha's outcome", peek, leak="answered_by_bot", status=404)
    peek_named = beta.get(f"/sessions/{session}/outcome", params={"tenant": "alpha"})
    attempts.refused("read alpha's outcome by name", peek_named, leak="answered", status=403)
    assert alpha.get(f"/sessions/{session}/outcome").json()["outcome"] == "answered_by_bot"

    # A later event from beta in the shared session updates beta's ticket only.
    update = beta.post(
        "/escalations", json=later_event(payload(session, "e1", "", "q"), "e3", "beta-again")
    )
    attempts.made.append(("update into alpha's ticket", update.status_code))
    assert update.json()["kind"] == "update"
    Relay(store, helpdesk_adapter, SETTINGS).drain()
    assert all(
        "beta-again" not in c.body
        for c in helpdesk_adapter.get_ticket(a_view["ticket_id"]).comments
    )
    alpha.close()
    beta.close()
    # Every cross-tenant attempt failed (the creates above made beta's own, separate objects).
    assert len(attempts.made) == 10
