"""`caseloop flows serve`: register both flows with a Prefect server and run their schedules.

``nightly_learning`` runs by cron (``learning_cron``), ``ticket_sync`` every
``sync_flow_interval_seconds``. Prefect's temporary (ephemeral) server registers deployments
but never schedules them, so this needs ``PREFECT_API_URL`` pointing at a real server
(``prefect server start``); the deployments take their settings from this process's environment.
"""

from __future__ import annotations

import os
from typing import Any

from ingestion.settings import IngestionSettings

LEARNING_DEPLOYMENT = "nightly"
SYNC_DEPLOYMENT = "every-few-minutes"


class ServeError(RuntimeError):
    """The flows cannot be served (no Prefect server configured)."""


def deployments(settings: IngestionSettings) -> list[Any]:
    """The two deployments with their schedules (not yet registered)."""
    from flows.learning import nightly_learning
    from flows.ticket_sync import ticket_sync

    return [
        nightly_learning.to_deployment(
            name=LEARNING_DEPLOYMENT,
            cron=settings.learning_cron,
            description="Learn CASE_SUMMARY documents from tickets resolved since the last run.",
            tags=["caseloop", "learning"],
        ),
        ticket_sync.to_deployment(
            name=SYNC_DEPLOYMENT,
            interval=settings.sync_flow_interval_seconds,
            description="Push late context as bot notes, re-drive stuck outbox rows, report drift.",
            tags=["caseloop", "sync"],
        ),
    ]


def serve_flows(settings: IngestionSettings, *, api_url: str | None = None) -> None:
    """Register both deployments and run them until interrupted (blocks)."""
    url = api_url or os.environ.get("PREFECT_API_URL")
    if not url:
        raise ServeError(
            "PREFECT_API_URL: not set. Start a server (`prefect server start --host 127.0.0.1`) "
            "and export PREFECT_API_URL=http://127.0.0.1:4200/api; a temporary server never "
            "runs schedules."
        )
    from prefect import serve

    serve(*deployments(settings))
