"""POST /escalations and GET /escalations/{id} on a real uvicorn on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from ingestion import IngestionSettings, Relay, escalation_key
from ingestion.http import create_app
from ingestion.schema import Escalation, OutboxRow
from ingestion.store import Store
from tests.support.fake_ticketing import FakeTicketing, escalation_payload, later_event
from tests.support.keys import bearer
from tests.support.loopback import serve

SETTINGS = IngestionSettings(max_payload_bytes=20_000)


@pytest.fixture
def client(store: Store) -> Iterator[httpx.Client]:
    app = create_app(SETTINGS, store)
    with serve(app) as url, httpx.Client(base_url=url, headers=bearer(store)) as client:
        yield client


def count(store: Store) -> tuple[int, int]:
    with store.transaction() as tx:
        return (
            int(tx.scalar(select(func.count()).select_from(Escalation)) or 0),
            int(tx.scalar(select(func.count()).select_from(OutboxRow)) or 0),
        )


def fields(response: httpx.Response) -> dict[str, str]:
    return {item["field"]: item["msg"] for item in response.json()["detail"]}


def test_created_then_replayed(client: httpx.Client, store: Store) -> None:
    created = client.post("/escalations", json=escalation_payload())
    assert created.status_code == 201
    key = escalation_key("sess-1", "ev-1", "acme")
    assert created.headers["location"] == f"/escalations/{key}"
    assert created.json()["state"] == "pending"
    assert created.json()["kind"] == "create"
    again = client.post("/escalations", json=escalation_payload())
    assert again.status_code == 200
    assert again.json() == created.json()
    assert count(store) == (1, 1)
    shown = client.get(f"/escalations/{key}")
    assert shown.status_code == 200
    assert shown.json()["ticket_id"] is None


def test_second_event_is_an_update(client: httpx.Client) -> None:
    client.post("/escalations", json=escalation_payload())
    second = client.post("/escalations", json=later_event(escalation_payload(), "ev-2", "Hello?"))
    assert second.status_code == 201
    assert second.json()["kind"] == "update"


def test_reused_key_with_other_payload_is_422(client: httpx.Client, store: Store) -> None:
    client.post("/escalations", json=escalation_payload())
    response = client.post("/escalations", json=escalation_payload(reason="conflict"))
    assert response.status_code == 422
    assert response.json()["title"] == "idempotency key reused with a different payload"
    assert count(store) == (1, 1)


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (b'{"session_id": ', "body", "malformed JSON at line 1 column 16"),
        (
            json.dumps(escalation_payload()).encode().replace(b"Ada", b"\xc3\x28da"),
            "body",
            "invalid UTF-8 at byte",
        ),
        (
            json.dumps(escalation_payload(reason="angry")).encode(),
            "reason",
            "unknown reason code 'angry'",
        ),
        (
            json.dumps(escalation_payload(transcript=[])).encode(),
            "transcript",
            "List should have at least 1 item",
        ),
        (
            json.dumps(
                escalation_payload(
                    transcript=[{"role": "customer", "text": "hi", "at": "2026-03-02T09:00:00"}]
                )
            ).encode(),
            "transcript[0].at",
            "Input should have timezone info",
        ),
    ],
)
def test_bad_input_names_field_and_writes_nothing(
    client: httpx.Client, store: Store, body: bytes, field: str, message: str
) -> None:
    response = client.post(
        "/escalations", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert fields(response)[field].startswith(message)
    assert count(store) == (0, 0)


def test_oversized_body_is_413(client: httpx.Client, store: Store) -> None:
    payload: dict[str, Any] = escalation_payload(context={"summary": "x" * 25_000})
    response = client.post("/escalations", json=payload)
    assert response.status_code == 413
    assert fields(response) == {"body": "over the limit of 20000 bytes"}
    # a chunked body without Content-Length is cut off too
    chunks = iter([json.dumps(payload).encode()[i : i + 4096] for i in range(0, 26_000, 4096)])
    streamed = client.post(
        "/escalations", content=chunks, headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
    assert count(store) == (0, 0)


def test_unknown_escalation_is_404(client: httpx.Client) -> None:
    response = client.get("/escalations/nope")
    assert response.status_code == 404
    assert response.json()["detail"] == "no escalation 'nope'"


def test_openapi_documents_the_payload(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/escalations"]["post"]["requestBody"]["content"]["application/json"]
    name = body["schema"]["$ref"].removeprefix("#/components/schemas/")
    assert "reason" in spec["components"]["schemas"][name]["required"]
    assert client.get("/docs").status_code == 200


def test_get_shows_delivered_and_dead(client: httpx.Client, store: Store) -> None:
    fake = FakeTicketing()
    relay = Relay(store, fake, SETTINGS)
    ok = client.post("/escalations", json=escalation_payload("s-ok")).json()["id"]
    bad = client.post("/escalations", json=escalation_payload("s-bad")).json()["id"]
    fake.inject("ok", "rejected")  # the first create goes through, the second is refused
    relay.drain()
    delivered = client.get(f"/escalations/{ok}").json()
    assert (delivered["state"], delivered["ticket_id"], delivered["ticket_url"]) == (
        "delivered",
        "1",
        "fake://tickets/1",
    )
    assert delivered["delivered_at"] is not None
    dead = client.get(f"/escalations/{bad}").json()
    assert (dead["state"], dead["last_error"]) == ("dead", "rejected: 400: title is required")
