"""Settings and resources that CLI commands build at their entry point and pass down."""

from __future__ import annotations

from pathlib import Path

import typer

from ingestion.settings import IngestionSettings
from ingestion.store import Store, open_store


def env_file(ctx: typer.Context) -> Path | None:
    obj = ctx.find_root().obj or {}
    value = obj.get("env_file")
    return value if isinstance(value, Path) else None


def ingestion_settings(ctx: typer.Context) -> IngestionSettings:
    """The ingestion settings for this invocation (environment plus --env-file)."""
    return IngestionSettings.load(env_file(ctx))


def store(settings: IngestionSettings) -> Store:
    """Open (and migrate) the operational store named by the settings."""
    return open_store(settings.resolved_database_url)
