"""`caseloop webhooks`: the inbox worker, replays, purge and counters of the webhook receiver."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Sequence
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from flows.cli import context
from flows.cli.app import app

webhooks_app = typer.Typer(
    help="Webhook inbox: process, replay, purge, count.", no_args_is_help=True
)
app.add_typer(webhooks_app, name="webhooks")


def _drain(ctx: typer.Context, *, cause: str, channel: bool) -> None:
    """Process pending deliveries until none is left (or the ticketing system says wait)."""
    from ingestion import queue
    from ingestion.inbox import InboxReport, InboxWorker

    settings = context.ingestion_settings(ctx)
    console = Console(stderr=True)
    with context.workbench(settings, pusher=channel) as bench:
        worker = InboxWorker(bench.store, bench.adapter, settings, cause=cause)

        def step() -> InboxReport:
            report = worker.process_pending()
            console.print(
                f"inbox: {report.processed} processed, {report.failed} failed, "
                f"{report.deferred} deferred, {report.messages} messages"
            )
            return report

        queue.drain(step, empty=InboxReport())
        if bench.pusher is not None:
            pushed = bench.pusher.run_once()
            console.print(f"channel: {pushed.delivered} pushed, {pushed.notes} bot notes")


@webhooks_app.command("worker")
def worker(
    ctx: typer.Context,
    once: Annotated[
        bool, typer.Option("--once", help="Process what is pending now, then exit.")
    ] = False,
    channel: Annotated[
        bool,
        typer.Option(
            "--channel/--no-channel",
            help="Also push messages to orchestrator_url and write bot notes.",
        ),
    ] = True,
) -> None:
    """Run the inbox worker: re-read each announced ticket and apply it (until SIGTERM)."""
    if once:
        _drain(ctx, cause="webhook", channel=channel)
        return
    from ingestion.inbox import InboxWorker

    settings = context.ingestion_settings(ctx)
    stop = context.stop_on_signals()
    console = Console(stderr=True)
    with context.workbench(settings, pusher=channel) as bench:
        inbox = InboxWorker(bench.store, bench.adapter, settings)
        loops = [inbox.run] + ([bench.pusher.run] if bench.pusher is not None else [])
        console.print(f"webhooks worker on {bench.adapter.source}: running")
        crashed = _supervise(loops, stop)
    if crashed:
        console.print("webhooks worker: a worker loop died; see the log above")
        raise typer.Exit(1)


def _supervise(loops: Sequence[Callable[[threading.Event], object]], stop: threading.Event) -> bool:
    """Run each loop in a thread until ``stop``; when one dies, stop the others. True: one died."""
    threads = [threading.Thread(target=loop, args=(stop,)) for loop in loops]
    crashed = False
    for thread in threads:
        thread.start()
    while not stop.wait(0.5):
        if not all(thread.is_alive() for thread in threads):
            crashed = True  # a loop died (its traceback is logged): stop the other one
            stop.set()
    for thread in threads:
        thread.join()
    return crashed


@webhooks_app.command("replay")
def replay(
    ctx: typer.Context,
    source: Annotated[str | None, typer.Option(help="Only deliveries of this source.")] = None,
    delivery_id: Annotated[
        list[str] | None, typer.Option("--id", help="Only these delivery ids (repeatable).")
    ] = None,
    since: Annotated[
        dt.datetime | None,
        typer.Option(help="Only deliveries received at or after this UTC time."),
    ] = None,
    failed_only: Annotated[
        bool, typer.Option("--failed-only", help="Only deliveries that failed.")
    ] = False,
) -> None:
    """Re-drive stored deliveries through the same worker path (then process them)."""
    from ingestion import inbox

    when = since.replace(tzinfo=dt.UTC) if since and since.tzinfo is None else since
    with context.store(context.ingestion_settings(ctx)) as store:
        count = inbox.replay(
            store,
            source=source,
            delivery_ids=delivery_id or (),
            since=when,
            states=("failed",) if failed_only else ("processed", "failed"),
        )
    Console(stderr=True).print(f"replay: {count} deliveries back to pending")
    if count:
        _drain(ctx, cause="replay", channel=True)


@webhooks_app.command("purge")
def purge(ctx: typer.Context) -> None:
    """Forget finished deliveries older than webhook_dedupe_days."""
    from ingestion import inbox

    settings = context.ingestion_settings(ctx)
    with context.store(settings) as store:
        removed = inbox.purge(store, keep_days=settings.webhook_dedupe_days)
    Console().print(f"purged {removed} deliveries older than {settings.webhook_dedupe_days} days")


@webhooks_app.command("stats")
def stats(ctx: typer.Context) -> None:
    """Deliveries by state and rejections (and dropped duplicates) by source and reason."""
    from ingestion import inbox

    with context.store(context.ingestion_settings(ctx)) as store:
        states = inbox.state_counts(store)
        rejections = inbox.rejection_counts(store)
    table = Table("source", "reason", "count", title="rejected or dropped deliveries")
    for (source, reason), count in sorted(rejections.items()):
        table.add_row(source, reason, str(count))
    console = Console()
    console.print(
        "deliveries: " + ", ".join(f"{k} {v}" for k, v in sorted(states.items())) or "none"
    )
    console.print(table)
