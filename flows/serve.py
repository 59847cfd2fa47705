"""`caseloop flows serve`: register every flow with a Prefect server and run their schedules.

``nightly_learning`` runs by cron (``learning_cron`` in ``learning_cron_timezone``, UTC by
default), ``ticket_sync`` every ``sync_flow_interval_seconds``. Each schedule setting is checked
before anything is registered and a bad one is one line naming it.

Served runs read exactly the settings the command line reads: the environment (inherited by the
run processes), and the ``--env-file``, passed to every deployment as its ``env_file`` parameter
(an absolute path, so it does not depend on the run's working folder). The Prefect server is the
one Prefect itself is configured with: ``PREFECT_API_URL`` from the environment or from the active
profile (``prefect config set PREFECT_API_URL=…``). Prefect's temporary (ephemeral) server
registers deployments but never schedules them, so a real ``prefect server start`` is required.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows.errors import ServeError
from ingestion.settings import IngestionSettings

LEARNING_DEPLOYMENT = "nightly"
SYNC_DEPLOYMENT = "every-few-minutes"


@dataclass(frozen=True, slots=True)
class Schedules:
    """The checked schedules of the served flows (Prefect schedule objects)."""

    learning: Any
    sync: Any


def schedules(settings: IngestionSettings) -> Schedules:
    """Check every schedule setting; a bad one raises `ServeError` naming it in one line."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule
    from pydantic import ValidationError

    zone = settings.learning_cron_timezone
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ServeError(
            f"CASELOOP_LEARNING_CRON_TIMEZONE: {zone!r} is not an IANA time zone "
            "(for example UTC or Europe/Berlin)"
        ) from None
    try:
        learning = CronSchedule(cron=settings.learning_cron, timezone=zone)
    except ValidationError:
        raise ServeError(
            f"CASELOOP_LEARNING_CRON: {settings.learning_cron!r} is not a cron expression "
            "(five fields: minute hour day month weekday, for example '17 2 * * *')"
        ) from None
    seconds = settings.sync_flow_interval_seconds
    if seconds < 1:
        raise ServeError(
            f"CASELOOP_SYNC_FLOW_INTERVAL_SECONDS: {seconds} must be a whole number of seconds ≥ 1"
        )
    return Schedules(
        learning=learning, sync=IntervalSchedule(interval=dt.timedelta(seconds=seconds))
    )


def deployments(settings: IngestionSettings, env_file: Path | None = None) -> list[Any]:
    """Every deployment with its schedule and the settings file its runs read (not registered)."""
    from flows.learning import nightly_learning
    from flows.ticket_sync import ticket_sync

    checked = schedules(settings)
    parameters = {"env_file": str(env_file.resolve())} if env_file else {}
    return [
        nightly_learning.to_deployment(
            name=LEARNING_DEPLOYMENT,
            schedule=checked.learning,
            parameters=parameters,
            description="Learn CASE_SUMMARY documents from tickets resolved since the last run.",
            tags=["caseloop", "learning"],
        ),
        ticket_sync.to_deployment(
            name=SYNC_DEPLOYMENT,
            schedule=checked.sync,
            parameters=parameters,
            description="Push late context as bot notes, re-drive stuck outbox rows, report drift.",
            tags=["caseloop", "sync"],
        ),
    ]


def prefect_api_url() -> str | None:
    """The Prefect API URL Prefect itself will use (environment first, then the profile)."""
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    return str(url) if url else None


def serve_flows(settings: IngestionSettings, env_file: Path | None = None) -> None:
    """Check the schedules, register every deployment and run them until interrupted (blocks)."""
    served = deployments(settings, env_file)
    if not prefect_api_url():
        raise ServeError(
            "PREFECT_API_URL: not set. Start a server (`prefect server start --host 127.0.0.1`) "
            "and run `prefect config set PREFECT_API_URL=http://127.0.0.1:4200/api` (or export "
            "it); a temporary server never runs schedules."
        )
    from prefect import serve

    serve(*served)
