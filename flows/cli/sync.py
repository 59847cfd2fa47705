"""`caseloop sync`: the polling sync worker (long-running, or one poll with --once)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from flows.cli import context
from flows.cli.app import app

if TYPE_CHECKING:
    from ingestion.sync import SyncReport


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

    Without --once it polls every sync_interval seconds (or after a Retry-After) until SIGTERM,
    logging one line per poll on stderr; --once prints its summary line on stdout. Exit code 2 when --once was cut short by the ticketing system (429 or unavailable).
    """
    from ingestion import queue
    from ingestion.sync import SyncReport, SyncWorker

    settings = context.ingestion_settings(ctx)
    console = Console(stderr=True)
    # --once prints its summary on stdout (a result to capture); the long-running worker's
    # per-poll lines are a log and go to stderr.
    summary = Console(soft_wrap=True) if once else console
    with context.workbench(settings, pusher=channel) as bench:
        worker = SyncWorker(bench.store, bench.adapter, settings)

        def step() -> SyncReport:
            report = worker.poll_once()
            pushed = bench.pusher.run_once() if bench.pusher else None
            summary.print(
                _line(worker.source, report) + (f", {pushed.delivered} pushed" if pushed else ""),
                highlight=False,
            )
            return report

        if not once:
            stop = context.stop_on_signals()
            queue.run(
                stop,
                step,
                empty=SyncReport(),
                idle=settings.sync_interval,
                name=f"sync {worker.source}",
                least_wait=1.0,
            )
            return
        report = step()
    if report.retry_after is not None:
        console.print(f"ticketing system asked to wait {report.retry_after:.0f}s")
        raise typer.Exit(2)


def _line(source: str, report: SyncReport) -> str:
    cursor = report.cursor
    return (
        f"sync {source}: {report.tickets_seen} tickets in {report.pages} pages, "
        f"{report.transitions} transitions, {report.messages} messages, "
        f"{report.reconciled} re-read from webhooks"
        + (f", cursor ({cursor.updated_at.isoformat()}, {cursor.ticket_id})" if cursor else "")
        + (f", lag {report.lag_seconds:.1f}s" if report.lag_seconds is not None else "")
    )
