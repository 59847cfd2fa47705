"""Settings and resources that CLI commands build at their entry point and pass down."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

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


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or Ctrl-C, so long-running workers finish what they hold and exit."""
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    return stop


def progress_bar(console: Console) -> Progress:
    """The progress bar of long commands: what, a bar, done of total, time so far."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
