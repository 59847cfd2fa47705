"""`POST /webhooks/{source}` on a real uvicorn: stored before the 2xx, deduped, typed rejections."""

from __future__ import annotations

import base64
import collections
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from ingestion import inbox
from ingestion.http import create_app
from ingestion.schema import OutgoingMessage, WebhookDelivery
from ingestion.settings import IngestionSettings
from ingestion.signatures import signed_headers
from ingestion.store import Store
from tests.support.loopback import serve

SECRET = "whsec_" + base64.b64encode(b"caseloop receiver test key 32 b!").decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"the secret before the rotation!!").decode()
TOKEN = "url-token-5f3a9c"


def settings(**overrides: object) -> IngestionSettings:
    base: dict[str, object] = {
        "ticketing": "helpdesk",
        "webhook_sources": ["rt"],
        "webhook_secrets": [SecretStr(SECRET), SecretStr(OLD_SECRET)],
        "helpdesk_webhook_token": SecretStr(TOKEN),
        "webhook_max_body_bytes": 2_000,
        "webhook_rejection_flush_seconds": 0.0,  # counted at once here; buffering: test_http_edges
    }
    base.update(overrides)
    return IngestionSettings(**base)  # type: ignore[arg-type]


TALLY: collections.Counter[str] = collections.Counter()


@pytest.fixture(scope="module", autouse=True)
def closing_note_counts(request: pytest.FixtureRequest) -> Iterator[None]:
    """Write the module's delivery counts for the issue's closing note."""
    yield
    out = Path(str(request.config.rootpath)) / ".caseloop" / "updates-receiver-counts.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dict(sorted(TALLY.items())), indent=2) + "\n")


@pytest.fixture
def url(store: Store) -> Iterator[str]:
    with serve(create_app(settings(), store)) as base:
        yield base
    count(store)


def count(store: Store) -> None:
    accepted = len(stored(store))
    TALLY["deliveries_accepted"] += accepted
    TALLY["deliveries_tried"] += accepted
    for (_, reason), n in inbox.rejection_counts(store).items():
        TALLY["duplicates_dropped" if reason == "duplicate" else f"rejected_{reason}"] += n
        TALLY["deliveries_tried"] += n


def hint(ticket_id: object = "42") -> bytes:
    return json.dumps({"type": "ticket.updated", "data": {"ticket_id": ticket_id}}).encode()


def signed(
    body: bytes, *, msg_id: str = "msg_1", at: float | None = None, secret: str = SECRET
) -> dict[str, str]:
    return signed_headers(secret, msg_id, int(at if at is not None else time.time()), body)


def stored(store: Store) -> list[WebhookDelivery]:
    with store.transaction() as s:
        return list(s.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def test_signed_delivery_stored_raw_then_duplicate_dropped(store: Store, url: str) -> None:
    body = hint()
    headers = {**signed(body), "Authorization": "Bearer do-not-keep", "X-Trace": "t1"}
    first = httpx.post(f"{url}/webhooks/helpdesk", content=body, headers=headers)
    assert first.status_code == 202
    assert first.json() == {"status": "accepted", "delivery_id": "msg_1"}
    [row] = stored(store)
    assert (row.source, row.delivery_id, row.ticket_external_id, row.state) == (
        "helpdesk",
        "msg_1",
        "42",
        "pending",
    )
    assert row.body == body
    assert row.headers["x-trace"] == "t1"
    assert "authorization" not in row.headers
    # The sender retries the same delivery (same id): acknowledged, dropped, counted.
    again = httpx.post(f"{url}/webhooks/helpdesk", content=body, headers=headers)
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    assert len(stored(store)) == 1
    assert inbox.rejection_counts(store) == {("helpdesk", "duplicate"): 1}


def test_rotated_secret_and_extra_source(store: Store, url: str) -> None:
    body = hint(7)
    response = httpx.post(
        f"{url}/webhooks/rt", content=body, headers=signed(body, secret=OLD_SECRET)
    )
    assert response.status_code == 202
    assert stored(store)[0].ticket_external_id == "7"


def _tamper(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, {**signed(body), "webhook-signature": signed(body + b"x")["webhook-signature"]}


CASES = {
    "forged": (
        lambda b: (b, signed(b, secret="whsec_" + base64.b64encode(b"attacker").decode())),
        "bad_signature",
        401,
    ),
    "tampered": (_tamper, "bad_signature", 401),
    "replayed_too_old": (lambda b: (b, signed(b, at=time.time() - 301)), "too_old", 400),
    "future": (lambda b: (b, signed(b, at=time.time() + 400)), "too_new", 400),
    "missing_header": (
        lambda b: (b, {k: v for k, v in signed(b).items() if k != "webhook-timestamp"}),
        "missing_header",
        400,
    ),
    "not_json": (
        lambda b: (b"ticket 42 changed", signed(b"ticket 42 changed")),
        "malformed_body",
        400,
    ),
    "no_ticket_id": (
        lambda b: (b'{"type":"x","data":{}}', signed(b'{"type":"x","data":{}}')),
        "malformed_body",
        400,
    ),
    "bad_ticket_id": (
        lambda b: (hint("4 2; drop"), signed(hint("4 2; drop"))),
        "malformed_body",
        400,
    ),
    "oversized": (lambda b: (hint("9" * 3000), signed(hint("9" * 3000))), "oversized", 413),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_rejections_change_nothing(
    store: Store, url: str, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    make, reason, status = CASES[case]
    body, headers = make(hint())
    with caplog.at_level(logging.WARNING):
        response = httpx.post(f"{url}/webhooks/helpdesk", content=body, headers=headers)
    assert response.status_code == status
    assert response.json()["error"] == reason
    assert stored(store) == []
    assert inbox.rejection_counts(store) == {("helpdesk", reason): 1}
    logged = caplog.text
    assert reason in logged
    assert SECRET.removeprefix("whsec_") not in logged
    assert body.decode(errors="replace")[:40] not in logged


def test_unknown_source_counted_under_one_row(store: Store, url: str) -> None:
    body = hint()
    for name in ("zendesk", "evil-1", "evil-2"):
        response = httpx.post(f"{url}/webhooks/{name}", content=body, headers=signed(body))
        assert response.status_code == 404
    assert inbox.rejection_counts(store) == {("(unknown)", "unknown_source"): 3}
    assert stored(store) == []


def test_helpdesk_native_webhook_needs_url_token(store: Store, url: str) -> None:
    body = json.dumps(
        {"ticket": {"id": 5, "title": "x"}, "queue_slug": "q", "followup_id": 31}
    ).encode()
    wrong = httpx.post(f"{url}/webhooks/helpdesk", params={"token": "guess"}, content=body)
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "bad_token"
    unsigned = httpx.post(f"{url}/webhooks/helpdesk", content=body)  # no token: must be signed
    assert unsigned.json()["error"] == "missing_header"
    ok = httpx.post(f"{url}/webhooks/helpdesk", params={"token": TOKEN}, content=body)
    assert ok.status_code == 202
    assert ok.json()["delivery_id"] == "followup-31"
    [row] = stored(store)
    assert row.ticket_external_id == "5"
    new_ticket = json.dumps({"ticket": {"id": 6}, "queue_slug": "q"}).encode()
    assert (
        httpx.post(
            f"{url}/webhooks/helpdesk", params={"token": TOKEN}, content=new_ticket
        ).status_code
        == 202
    )
    malformed = httpx.post(
        f"{url}/webhooks/helpdesk", params={"token": TOKEN}, content=b'{"ticket": {"id": "6"}}'
    )
    assert malformed.json() == {
        "error": "malformed_body",
        "detail": "malformed_body: ticket.id: Input should be a valid integer",
    }
    assert len(stored(store)) == 2


def test_native_webhooks_refused_without_configured_token(store: Store) -> None:
    body = json.dumps({"ticket": {"id": 5}}).encode()
    with serve(create_app(settings(helpdesk_webhook_token=SecretStr("")), store)) as base:
        response = httpx.post(f"{base}/webhooks/helpdesk", params={"token": ""}, content=body)
    assert response.json()["error"] == "bad_token"
    assert stored(store) == []
    count(store)


def test_malformed_secret_configuration_answers_500(store: Store) -> None:
    body = hint()
    with serve(create_app(settings(webhook_secrets=[SecretStr("whsec_@@@")]), store)) as base:
        response = httpx.post(f"{base}/webhooks/helpdesk", content=body, headers=signed(body))
    assert response.status_code == 500
    assert response.json()["error"] == "bad_secret_format"
    count(store)


def test_back_pressure_429_with_retry_after(store: Store) -> None:
    app = create_app(settings(webhook_max_pending=2, webhook_retry_after_seconds=17), store)
    with serve(app) as base:
        codes = []
        for n in range(3):
            body = hint(n)
            codes.append(
                httpx.post(
                    f"{base}/webhooks/helpdesk", content=body, headers=signed(body, msg_id=f"m{n}")
                )
            )
            app.state.webhook_back_pressure.ttl = 0.0  # re-count on every request in this test
    assert [r.status_code for r in codes] == [202, 202, 429]
    assert codes[2].headers["retry-after"] == "17"
    assert len(stored(store)) == 2
    with store.transaction() as s:
        assert s.scalar(select(func.count()).select_from(OutgoingMessage)) == 0
    count(store)
    TALLY["backpressure_429"] += 1
    TALLY["deliveries_tried"] += 1
