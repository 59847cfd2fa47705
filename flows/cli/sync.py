"""`caseloop sync`: the polling sync worker (long-running, or one poll with --once)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from flows.cli import context
from flows.cli.app import app


@app.command("sync")
def sync(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Poll once, then exit.")] = False,
    channel: Annotated[
        bool,
        typer.Option(
            "--channel/--no-channel",
            help="Also push messages to orchestrator_url and write bot notes.",
        ),
    ] = True,
) -> None:
    """Poll the ticketing system from the stored cursor and apply every changed ticket.

    Without --once it polls every sync_interval seconds (or after a Retry-After) until SIGTERM.
    Exit code 2 when --once was cut short by the ticketing system (429 or unavailable).
    """
    from ingestion.adapters import build_adapter
    from ingestion.channel import Channel
    from ingestion.sync import SyncWorker

    settings = context.ingestion_settings(ctx)
    store = context.store(settings)
    adapter = build_adapter(settings)
    worker = SyncWorker(store, adapter, settings)
    pusher = Channel(store, settings, adapter=adapter) if channel else None
    console = Console(stderr=True)
    stop = context.stop_on_signals()
    try:
        while True:
            report = worker.poll_once()
            pushed = pusher.run_once() if pusher else None
            cursor = report.cursor
            console.print(
                f"sync {adapter.source}: {report.tickets_seen} tickets in {report.pages} pages, "
                f"{report.transitions} transitions, {report.messages} messages, "
                f"{report.reconciled} re-read from webhooks"
                + (
                    f", cursor ({cursor.updated_at.isoformat()}, {cursor.ticket_id})"
                    if cursor
                    else ""
                )
                + (f", lag {report.lag_seconds:.1f}s" if report.lag_seconds is not None else "")
                + (f", {pushed.delivered} pushed" if pushed else "")
            )
            if once:
                if report.retry_after is not None:
                    console.print(f"ticketing system asked to wait {report.retry_after:.0f}s")
                    raise typer.Exit(2)
                return
            wait = report.retry_after if report.retry_after is not None else settings.sync_interval
            if stop.wait(max(wait, 1.0)):
                return
    finally:
        if pusher is not None:
            pusher.close()
        adapter.close()
        store.dispose()
