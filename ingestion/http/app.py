"""Application factory: settings and store are passed in, never read at import.

Each concept has its own router module; `create_app` mounts them all. Handlers reach the shared
objects through `ingestion.http.deps`.
"""

from __future__ import annotations

from fastapi import FastAPI

from ingestion.http import escalations, health, messages, metrics, outcomes, webhooks
from ingestion.settings import IngestionSettings
from ingestion.store import Store

ROUTERS = (
    health.router,
    escalations.router,
    outcomes.router,
    webhooks.router,
    messages.router,
    metrics.router,
)


def create_app(settings: IngestionSettings, store: Store) -> FastAPI:
    """Build the service around an open store."""
    app = FastAPI(
        title="caseloop",
        summary="Escalations in, agent replies out, outcomes recorded.",
        version="0.1.0",
    )
    app.state.settings = settings
    app.state.store = store
    for router in ROUTERS:
        app.include_router(router)
    return app
