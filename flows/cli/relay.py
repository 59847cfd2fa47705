"""`caseloop relay`: deliver the outbox to the ticketing system (long-running or one drain)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from flows.cli import context
from flows.cli.app import app


@app.command("relay")
def relay(
    ctx: typer.Context,
    once: Annotated[
        bool, typer.Option("--once", help="Deliver what is due now, then exit (a drain).")
    ] = False,
    wait: Annotated[
        bool,
        typer.Option("--wait", help="With --once: also wait out retries until nothing is pending."),
    ] = False,
) -> None:
    """Run the outbox relay: claims escalations and creates tickets or bot notes.

    Without --once it runs until SIGTERM or Ctrl-C, finishing the delivery in hand and giving
    back the leases of the rows it had claimed but not started.
    """
    from ingestion.adapters import build_adapter
    from ingestion.relay import Relay

    settings = context.ingestion_settings(ctx)
    store = context.store(settings)
    adapter = build_adapter(settings)
    stop = context.stop_on_signals()
    worker = Relay(store, adapter, settings)
    console = Console(stderr=True)
    console.print(f"relay {worker.owner} on {adapter.source}: {'drain' if once else 'running'}")
    try:
        report = worker.drain(wait=wait, stop=stop) if once else worker.run(stop)
    finally:
        adapter.close()
        store.dispose()
    console.print(
        f"relay stopped: {report.delivered} delivered, {report.retried} retried, {report.dead} dead"
    )
