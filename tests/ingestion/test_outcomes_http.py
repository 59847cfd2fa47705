"""`POST /sessions/{id}/outcome` on a real uvicorn server on loopback, against both stores."""

from __future__ import annotations

import httpx

from ingestion.http import create_app
from ingestion.outcomes import get_outcome
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from tests.support.keys import bearer
from tests.support.loopback import serve


def test_outcome_round_trip_and_rejections(store: Store) -> None:
    app = create_app(IngestionSettings(), store)
    acme = bearer(store, tenant="acme", scopes=("outcomes:write",))
    with serve(app) as url, httpx.Client(base_url=url, headers=acme) as client:
        body = {
            "outcome": "answered_by_bot",
            "confirmation": "confirmed",
            "tenant": "acme",
            "served_case_ids": ["T-1042"],
        }
        created = client.post("/sessions/s-7/outcome", json=body)
        assert created.status_code == 201, created.text
        assert created.json()["outcome"] == "answered_by_bot"
        again = client.post("/sessions/s-7/outcome", json=body)
        assert again.status_code == 200
        assert client.get("/sessions/s-7/outcome").json()["served_case_ids"] == ["T-1042"]

        bad = client.post(
            "/sessions/s-8/outcome", json={"outcome": "won", "confirmation": "assumed"}
        )
        assert bad.status_code == 422
        assert bad.json()["detail"][0]["loc"] == ["body", "outcome"]
        assert client.get("/sessions/s-8/outcome").status_code == 404
        too_long = client.post(f"/sessions/{'x' * 201}/outcome", json=body)
        assert too_long.status_code == 422
    assert get_outcome(store, "s-7", tenant="acme").tenant == "acme"


def test_multi_tenant_service_refuses_outcome_without_tenant(sqlite_store: Store) -> None:
    app = create_app(IngestionSettings(multi_tenant=True), sqlite_store)
    with serve(app) as url:
        response = httpx.post(
            f"{url}/sessions/s-9/outcome",
            json={"outcome": "escalated", "confirmation": "confirmed"},
            headers=bearer(sqlite_store),
        )
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"loc": ["body", "tenant"], "msg": "required: the service runs multi-tenant"}
    ]
