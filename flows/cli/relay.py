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
    from ingestion.relay import Relay

    settings = context.ingestion_settings(ctx)
    stop = context.stop_on_signals()
    console = Console(stderr=True)
    with context.workbench(settings) as bench:
        worker = Relay(bench.store, bench.adapter, settings)
        doing = "drain" if once else "running"
        console.print(f"relay {worker.owner} on {bench.adapter.source}: {doing}")
        report = worker.drain(wait=wait, stop=stop) if once else worker.run(stop)
    console.print(
        f"relay stopped: {report.delivered} delivered, {report.retried} retried, {report.dead} dead"
    )
