"""Application factory: settings and store are passed in, never read at import.

Each concept has its own router module; `create_app` mounts them all. Handlers reach the shared
objects through `ingestion.http.deps`.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from ingestion.http import escalations, health, messages, metrics, openapi, outcomes, webhooks
from ingestion.http.docs import mount_docs
from ingestion.http.edges import JsonOnly, strip_queries_from_access_log
from ingestion.http.responses import http_error, validation_error
from ingestion.http.webhooks import RejectionTally
from ingestion.keys import KeyRing
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
        docs_url=None,
        redoc_url=None,
    )
    mount_docs(app)
    app.state.settings = settings
    app.state.store = store
    app.state.keyring = KeyRing(store, cache_seconds=settings.api_key_cache_seconds)
    app.state.webhook_rejections = RejectionTally(store, settings.webhook_rejection_flush_seconds)
    app.router.add_event_handler("shutdown", app.state.webhook_rejections.flush)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(JsonOnly)
    if "*" not in settings.allowed_hosts:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.allowed_hosts)
    strip_queries_from_access_log()
    openapi.install(app)
    return app
