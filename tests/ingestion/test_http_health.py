"""The service starts on loopback and answers its health check."""

from __future__ import annotations

import httpx

from ingestion.http import create_app
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from tests.support.loopback import serve


def test_health_on_loopback(sqlite_store: Store) -> None:
    app = create_app(IngestionSettings(), sqlite_store)
    with serve(app) as url:
        response = httpx.get(f"{url}/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
        assert httpx.get(f"{url}/openapi.json").json()["info"]["title"] == "caseloop"
