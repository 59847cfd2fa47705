"""Issue 10's malformed inputs, each against a real uvicorn on both stores: a clear 4xx, never a 5xx,
and nothing stored."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import event, func, select

from ingestion import inbox
from ingestion.http import create_app
from ingestion.schema import Escalation, OutboxRow, SessionOutcome, WebhookDelivery
from ingestion.settings import IngestionSettings
from ingestion.signatures import signed_headers
from ingestion.store import Store
from tests.support.fake_ticketing import escalation_payload
from tests.support.keys import bearer
from tests.support.loopback import serve

SECRET = "whsec_" + "Y2FzZWxvb3AgZWRnZSB0ZXN0IGtleSAzMiBieXRlcyE="
TOKEN = "edge-token-91c2"
WRONG_SECRET = "whsec_" + "b3RoZXIga2V5IG9mIHRoZSBzYW1lIHNpemUsIDMyIGJ5dGVzIQ=="
SETTINGS = IngestionSettings(
    webhook_secrets=[SecretStr(SECRET)],
    helpdesk_webhook_token=SecretStr(TOKEN),
    webhook_rejection_flush_seconds=3600.0,
)
JSON = {"content-type": "application/json"}


@pytest.fixture
def app(store: Store) -> FastAPI:
    return create_app(SETTINGS, store)


@pytest.fixture
def client(app: FastAPI, store: Store) -> Iterator[httpx.Client]:
    with serve(app) as url, httpx.Client(base_url=url, headers=bearer(store)) as client:
        yield client


def stored(store: Store) -> tuple[int, int, int, int]:
    with store.transaction() as tx:
        return tuple(  # type: ignore[return-value]
            int(tx.scalar(select(func.count()).select_from(table)) or 0)
            for table in (Escalation, OutboxRow, SessionOutcome, WebhookDelivery)
        )


def raw(client: httpx.Client, path: str, text: str) -> httpx.Response:
    return client.post(path, content=text.encode("utf-8", "surrogatepass"), headers=JSON)


def with_(**changes: Any) -> str:
    return json.dumps(escalation_payload(**changes))


def nested(depth: int) -> str:
    return with_(context={"summary": "x", "intent": None}).replace(
        '"reason"', '"deep": ' + "[" * depth + "]" * depth + ', "reason"', 1
    )


ESCALATION_CASES = {
    "deep nesting": nested(100_000),
    "moderate nesting": nested(40),
    "NUL in session id": with_(session_id="s\x00"),
    "NUL in tenant": with_(tenant="a\x00b"),
    "NUL in transcript": json.dumps(
        escalation_payload(
            transcript=[{"role": "customer", "text": "a\x00", "at": "2026-03-02T09:00:00Z"}]
        )
    ),
    "NaN score": with_().replace('"score": 0.41', '"score": NaN'),
    "Infinity score": with_().replace('"score": 0.41', '"score": Infinity'),
    "overflowing score": with_().replace('"score": 0.41', '"score": 1e309'),
    "year 1 with offset": with_().replace("2026-03-02T09:00:00Z", "0001-01-01T00:00:00+01:00"),
    "year 9999 with offset": with_().replace("2026-03-02T09:00:00Z", "9999-12-31T23:59:59-01:00"),
    "lone surrogate key": with_().replace('"ranks": {', '"ranks": {"\\ud800": 1, ', 1),
    "lone surrogate reason": with_(reason="\ud800"),
    "session id with slash": with_(session_id="a/b"),
    "session id with newline": with_(session_id="a\nb"),
    "tenant with slash": with_(tenant="a/b"),
}


@pytest.mark.parametrize("case", sorted(ESCALATION_CASES))
def test_escalation_edge_is_422_and_stores_nothing(
    client: httpx.Client, store: Store, case: str
) -> None:
    for needle in ('"score": 0.41', '"ranks": {', "2026-03-02T09:00:00Z", '"reason"'):
        assert needle in with_()  # the replacements above really change the payload
    response = raw(client, "/escalations", ESCALATION_CASES[case])
    assert response.status_code == 422, response.text
    assert response.json()["detail"]
    assert stored(store) == (0, 0, 0, 0)


OUTCOME_CASES = {
    "Infinity confirmation": '{"outcome": "escalated", "confirmation": Infinity}',
    "lone surrogate confirmation": '{"outcome": "escalated", "confirmation": "\\ud800"}',
    "lone surrogate key": '{"outcome": "escalated", "confirmation": "assumed", "\\udfff": 1}',
    "NaN in case ids": '{"outcome": "escalated", "confirmation": "assumed", "served_case_ids": [NaN]}',
    "NUL case id": '{"outcome": "escalated", "confirmation": "assumed", "served_case_ids": ["a\\u0000"]}',
    "year 1": '{"outcome": "escalated", "confirmation": "assumed", "reported_at": "0001-01-01T00:00:00+05:00"}',
    "year 9999": '{"outcome": "escalated", "confirmation": "assumed", "reported_at": "9999-12-31T23:59:59-05:00"}',
    "deep": '{"outcome": ' + "[" * 50_000 + "]" * 50_000 + "}",
    "not an object": "[1, 2]",
}


@pytest.mark.parametrize("case", sorted(OUTCOME_CASES))
def test_outcome_edge_is_422_and_stores_nothing(
    client: httpx.Client, store: Store, case: str
) -> None:
    response = raw(client, "/sessions/s-1/outcome", OUTCOME_CASES[case])
    assert response.status_code == 422, response.text
    assert "\\ud800" not in response.text
    assert "Infinity" not in response.text
    assert stored(store) == (0, 0, 0, 0)


@pytest.mark.parametrize(
    "path",
    [
        "/sessions/a%00b/messages",
        "/sessions/a%00b/outcome",
        "/escalations/a%00b",
        "/sessions/s-1/messages?tenant=a%00",
        "/sessions/s-1/outcome?tenant=%ED%A0%80",
        "/sessions/s-1/messages?after=362145625631",  # found by the fuzz: PostgreSQL int overflow
    ],
)
def test_nul_and_bad_bytes_in_paths_and_queries_are_422(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 422, response.text


def test_slash_in_session_ids_is_refused_everywhere(client: httpx.Client, store: Store) -> None:
    assert raw(client, "/escalations", with_(session_id="a/b")).status_code == 422
    outcome = {"outcome": "escalated", "confirmation": "assumed"}
    assert client.post("/sessions/a%2Fb/outcome", json=outcome).status_code in (404, 422)
    assert stored(store) == (0, 0, 0, 0)


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_only_json_bodies_are_accepted(
    client: httpx.Client, store: Store, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    for path in ("/escalations", "/sessions/s-1/outcome"):
        body = (
            with_()
            if path == "/escalations"
            else '{"outcome":"escalated","confirmation":"assumed"}'
        )
        response = client.post(
            path, content=body.encode(), headers={**headers, "Origin": "https://evil.example"}
        )
        assert response.status_code == 415, (path, response.text)
    assert stored(store) == (0, 0, 0, 0)
    assert (
        client.post(
            "/escalations",
            content=with_().encode(),
            headers={"content-type": "application/json; charset=utf-8"},
        ).status_code
        == 201
    )


def test_host_allow_list(store: Store) -> None:
    settings = SETTINGS.model_copy(update={"allowed_hosts": ["caseloop.example.com", "127.0.0.1"]})
    with serve(create_app(settings, store)) as url:
        headers = {**bearer(store), "Host": "evil.example"}
        foreign = httpx.post(f"{url}/escalations", json=escalation_payload(), headers=headers)
        assert foreign.status_code == 400
        assert stored(store) == (0, 0, 0, 0)
        own = httpx.post(f"{url}/escalations", json=escalation_payload(), headers=bearer(store))
        assert own.status_code == 201


def test_next_after_is_always_a_cursor(client: httpx.Client) -> None:
    empty = client.get("/sessions/s-none/messages").json()
    assert empty["next_after"] == 0
    assert client.get("/sessions/s-none/messages", params={"after": 7}).json()["next_after"] == 7


def _signed(body: bytes, delivery_id: str, secret: str = SECRET) -> dict[str, str]:
    import time

    return signed_headers(secret, delivery_id, int(time.time()), body)


def test_long_delivery_ids_are_deduped_on_the_whole_id(client: httpx.Client, store: Store) -> None:
    body = json.dumps({"type": "ticket.updated", "data": {"ticket_id": "42"}}).encode()
    first, second = "d" * 300 + "-1", "d" * 300 + "-2"  # equal in their first 200 characters
    url = "/webhooks/ticketing"  # the documented name of the configured adapter's source
    a = client.post(url, content=body, headers=_signed(body, first))
    b = client.post(url, content=body, headers=_signed(body, second))
    again = client.post(url, content=body, headers=_signed(body, first))
    assert (a.status_code, b.status_code, again.status_code) == (202, 202, 200)
    with store.transaction() as tx:
        ids = sorted(tx.scalars(select(WebhookDelivery.delivery_id)))
    assert len(ids) == 2
    assert all(i.startswith("sha256:") and len(i) == 71 for i in ids)


@pytest.mark.parametrize("known", [False, True], ids=["unknown-source", "bad-signature"])
def test_rejections_cost_no_write_per_request(
    app: FastAPI, client: httpx.Client, store: Store, known: bool
) -> None:
    writes: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "webhook_rejections" in statement and "INSERT" in statement.upper():
            writes.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        for n in range(200):
            if known:  # a known source, signed with the wrong secret
                headers = _signed(b"{}", f"d-{n}", secret=WRONG_SECRET)
                answer = client.post("/webhooks/ticketing", content=b"{}", headers=headers)
                assert answer.status_code == 401
            else:
                assert client.post(f"/webhooks/evil-{n}", content=b"{}").status_code == 404
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    assert writes == []
    assert inbox.rejection_counts(store) == {}
    app.state.webhook_rejections.flush()  # on its interval, or at shutdown
    expected = ("ticketing", "bad_signature") if known else ("(unknown)", "unknown_source")
    assert inbox.rejection_counts(store) == {expected: 200}


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_token_in_header_and_no_query_in_access_log(client: httpx.Client, store: Store) -> None:
    body = json.dumps({"ticket": {"id": 5}, "followup_id": 77}).encode()
    access = logging.getLogger("uvicorn.access")
    records, level = _Records(), access.level
    access.addHandler(records)
    access.setLevel(logging.INFO)
    try:
        by_header = client.post(
            "/webhooks/helpdesk", content=body, headers={"X-Caseloop-Token": TOKEN}
        )
        wrong = client.post("/webhooks/helpdesk", params={"token": "wrong-guess"}, content=body)
        right = client.post("/webhooks/helpdesk", params={"token": TOKEN}, content=body)
    finally:
        access.removeHandler(records)
        access.setLevel(level)
    assert (by_header.status_code, wrong.status_code, right.status_code) == (202, 401, 200)
    logged = "\n".join(records.lines)
    assert "/webhooks/helpdesk" in logged
    with store.transaction() as tx:
        kept = [json.dumps(h) for h in tx.scalars(select(WebhookDelivery.headers))]
    assert len(kept) == 1
    assert TOKEN not in kept[0]  # the header token is not stored with the delivery
    assert TOKEN not in logged
    assert "wrong-guess" not in logged
    assert "?" not in logged
