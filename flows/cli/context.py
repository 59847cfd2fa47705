"""Settings and resources that CLI commands build at their entry point and pass down."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import typer
from pydantic import ValidationError

from ingestion.settings import IngestionSettings
from ingestion.store import Store, open_store


def env_file(ctx: typer.Context) -> Path | None:
    obj = ctx.find_root().obj or {}
    value = obj.get("env_file")
    return value if isinstance(value, Path) else None


def ingestion_settings(ctx: typer.Context) -> IngestionSettings:
    """The ingestion settings for this invocation (environment plus --env-file).

    A bad value is one line per setting, naming its variable, and exit code 1; no traceback.
    """
    try:
        return IngestionSettings.load(env_file(ctx))
    except ValidationError as exc:
        for error in exc.errors():
            name = "CASELOOP_" + "_".join(str(part) for part in error["loc"][:1]).upper()
            typer.echo(f"{name}: {error['msg']} (got {error.get('input')!r})", err=True)
        raise typer.Exit(1) from None


def store(settings: IngestionSettings) -> Store:
    """Open (and migrate) the operational store named by the settings."""
    return open_store(settings.resolved_database_url)


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or Ctrl-C, so long-running workers finish what they hold and exit."""
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    return stop
