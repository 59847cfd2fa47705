"""Bearer API keys on a real uvicorn, on both stores: 401 without, 403 without the scope, and
nothing stored by a refused request."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select, text

from ingestion.http import create_app
from ingestion.keys import create_key, list_keys, revoke_key
from ingestion.schema import Base, Escalation, OutboxRow, SessionOutcome
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from tests.support.fake_ticketing import escalation_payload
from tests.support.keys import bearer
from tests.support.loopback import serve

SETTINGS = IngestionSettings(api_key_cache_seconds=0.0)
OUTCOME = {"outcome": "escalated", "confirmation": "confirmed"}
#: Every guarded route with the scope it needs and a request that would otherwise succeed.
ROUTES = [
    ("escalate", "POST", "/escalations", escalation_payload()),
    ("escalate", "GET", "/escalations/0b7c0b7c-0000-5000-8000-000000000000", None),
    ("messages:read", "GET", "/sessions/sess-1/messages", None),
    ("outcomes:write", "POST", "/sessions/sess-1/outcome", OUTCOME),
    ("outcomes:write", "GET", "/sessions/sess-1/outcome", None),
]


@pytest.fixture
def url(store: Store) -> Iterator[str]:
    with serve(create_app(SETTINGS, store)) as base:
        yield base


def stored(store: Store) -> tuple[int, int, int]:
    with store.transaction() as tx:
        return (
            int(tx.scalar(select(func.count()).select_from(Escalation)) or 0),
            int(tx.scalar(select(func.count()).select_from(OutboxRow)) or 0),
            int(tx.scalar(select(func.count()).select_from(SessionOutcome)) or 0),
        )


def call(url: str, method: str, path: str, body: object, headers: dict[str, str]) -> httpx.Response:
    return httpx.request(method, f"{url}{path}", json=body, headers=headers)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer clk_000000000000_" + "x" * 32},
        {"Authorization": "Bearer not-a-key"},
    ],
    ids=["none", "empty", "basic", "unknown", "malformed"],
)
def test_every_guarded_route_is_401_without_a_valid_key(
    url: str, store: Store, headers: dict[str, str]
) -> None:
    for _scope, method, path, body in ROUTES:
        response = call(url, method, path, body, headers)
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert stored(store) == (0, 0, 0)


def test_a_key_without_the_scope_is_403_and_stores_nothing(url: str, store: Store) -> None:
    for scope, method, path, body in ROUTES:
        others = tuple(s for s in ("escalate", "messages:read", "outcomes:write") if s != scope)
        response = call(url, method, path, body, bearer(store, scopes=others))
        assert response.status_code == 403, (method, path, response.text)
        assert scope in response.json()["detail"]
    assert stored(store) == (0, 0, 0)


def test_scoped_and_admin_keys_pass(url: str, store: Store) -> None:
    for scope, method, path, body in ROUTES:
        for headers in (bearer(store, scopes=(scope,)), bearer(store, scopes=("admin",))):
            assert call(url, method, path, body, headers).status_code in (200, 201, 404)
    assert stored(store) == (1, 1, 1)


def test_health_and_webhooks_need_no_key(url: str) -> None:
    assert httpx.get(f"{url}/healthz").status_code == 200
    unsigned = httpx.post(f"{url}/webhooks/helpdesk", content=b"{}")
    assert unsigned.status_code == 400  # judged by its signature, not by a bearer key
    assert unsigned.json()["error"] == "missing_header"


def test_revoked_key_is_refused_and_last_use_recorded(url: str, store: Store) -> None:
    key, info = create_key(store, tenant="*", scopes=["escalate"])
    headers = {"Authorization": f"Bearer {key}"}
    assert call(url, "POST", "/escalations", escalation_payload(), headers).status_code == 201
    [listed] = [k for k in list_keys(store) if k.prefix == info.prefix]
    assert listed.last_used_at is not None
    revoke_key(store, info.prefix)
    refused = call(url, "POST", "/escalations", escalation_payload("sess-2"), headers)
    assert refused.status_code == 401
    assert stored(store)[0] == 1
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")
    revived = create_key(store, tenant="*", scopes=["escalate"])[1]
    forged = tampered.replace(info.prefix, revived.prefix)
    assert (
        call(url, "GET", "/escalations/x", None, {"Authorization": f"Bearer {forged}"}).status_code
        == 401
    )


def test_only_a_hash_of_the_key_is_stored(store: Store) -> None:
    key, info = create_key(store, tenant="acme", scopes=["escalate", "messages:read"])
    secret = key.removeprefix("clk_").partition("_")[2]  # the secret itself may hold "_"
    assert len(secret) == 32
    with store.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(text(f'SELECT * FROM "{table.name}"')):
                assert secret not in repr(row)
    assert info.scopes == ("escalate", "messages:read")
