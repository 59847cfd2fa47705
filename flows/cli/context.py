"""Settings and resources that CLI commands build at their entry point and pass down."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ingestion.settings import IngestionSettings
from ingestion.store import Store, open_store

if TYPE_CHECKING:
    from ingestion.pusher import Pusher
    from ingestion.ticketing import TicketingAdapter


def env_file(ctx: typer.Context) -> Path | None:
    obj = ctx.find_root().obj or {}
    value = obj.get("env_file")
    return value if isinstance(value, Path) else None


def ingestion_settings(ctx: typer.Context) -> IngestionSettings:
    """The ingestion settings for this invocation (environment plus --env-file)."""
    from ingestion.errors import SettingsError

    try:
        return IngestionSettings.load(env_file(ctx))
    except SettingsError as exc:
        typer.echo(f"caseloop: {exc}", err=True)
        raise typer.Exit(2) from None


def store(settings: IngestionSettings) -> Store:
    """Open (and migrate) the operational store named by the settings (a context manager)."""
    return open_store(settings.resolved_database_url)


@dataclass(frozen=True, slots=True)
class Workbench:
    """What a worker command runs on: the store, the ticketing adapter, maybe the pusher."""

    store: Store
    adapter: TicketingAdapter
    pusher: Pusher | None


@contextlib.contextmanager
def workbench(settings: IngestionSettings, *, pusher: bool = False) -> Iterator[Workbench]:
    """Open the store, the adapter (and the pusher); all closed when the block ends."""
    from ingestion.adapters import build_adapter
    from ingestion.pusher import Pusher

    with contextlib.ExitStack() as resources:
        opened = resources.enter_context(store(settings))
        adapter = resources.enter_context(build_adapter(settings))
        push = Pusher(opened, settings, adapter=adapter) if pusher else None
        if push is not None:
            resources.enter_context(push)
        yield Workbench(opened, adapter, push)


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
