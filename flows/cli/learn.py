"""`caseloop learn`, `caseloop sync-once` and `caseloop flows serve`: the learning side's commands."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from flows.cli import context
from flows.cli.app import app

flows_app = typer.Typer(help="Prefect flows: serve them on a Prefect server.", no_args_is_help=True)
app.add_typer(flows_app, name="flows")


def _since(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"--since: {value!r} is not an ISO 8601 time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@app.command("learn")
def learn_command(
    ctx: typer.Context,
    since: Annotated[
        str | None,
        typer.Option(help="Window start (ISO 8601); default: the start of the last good run."),
    ] = None,
    everything: Annotated[
        bool, typer.Option("--all", help="Look at every resolved ticket, not only the window.")
    ] = False,
    pull: Annotated[
        bool,
        typer.Option(
            "--pull/--no-pull", help="Pull updated tickets from the ticketing system first."
        ),
    ] = True,
) -> None:
    """Learn from resolved tickets once, without a Prefect server (progress bar, report table)."""
    import retrieval
    from ingestion.adapters import build_adapter
    from ingestion.cases import AdapterTicketing, run_learning

    window = _since(since)
    settings = context.ingestion_settings(ctx)
    console = Console(stderr=True)
    with contextlib.ExitStack() as resources:
        store = resources.enter_context(context.store(settings))
        ticketing = None
        if pull or settings.learning_write_note:
            adapter = resources.enter_context(build_adapter(settings))
            ticketing = AdapterTicketing(store, adapter, settings, refresh=pull)
        index = resources.enter_context(
            retrieval.open_index(settings=retrieval.RetrievalSettings.load(context.env_file(ctx)))
        )
        bar = resources.enter_context(context.progress_bar(console))
        task = bar.add_task("learning", total=None)
        try:
            report = run_learning(
                store,
                ticketing,
                index,
                settings,
                since=window,
                everything=everything,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        except Exception as exc:
            console.print(f"[red]learning failed: {exc}")
            raise typer.Exit(1) from None
    table = Table("outcome", "count", title="learning report")
    for name, count in report.counts().items():
        table.add_row(name, str(count))
    Console().print(table)
    for outcome in report.failed:
        console.print(f"[red]failed[/] {outcome.case_id}: {outcome.reason}")
    if report.failed:
        raise typer.Exit(2)


@app.command("sync-once")
def sync_once_command(
    ctx: typer.Context,
    drain: Annotated[
        bool, typer.Option("--drain/--no-drain", help="Drain the relay after re-driving rows.")
    ] = True,
) -> None:
    """Run ticket_sync once without a Prefect server: late context, stuck outbox, drift."""
    from flows.ticket_sync import sync_once

    settings = context.ingestion_settings(ctx)
    console = Console(stderr=True)
    with context.workbench(settings) as bench, context.progress_bar(console) as bar:
        task = bar.add_task("checking tickets", total=None)
        report = sync_once(
            settings,
            bench.store,
            bench.adapter,
            drain_relay=drain,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    Console().print(report.line())
    for found in report.drift:
        Console().print(f"drift {found.external_id}: {found.kind} ({found.detail})")
    if report.failed:
        raise typer.Exit(2)


@flows_app.command("serve")
def serve_command(ctx: typer.Context) -> None:
    """Register nightly_learning (cron) and ticket_sync (interval) with Prefect's server
    (PREFECT_API_URL from the environment or the Prefect profile) and run them until interrupted;
    the runs read the same settings as this command, --env-file included."""
    from flows.errors import ServeError
    from flows.serve import serve_flows

    settings = context.ingestion_settings(ctx)
    try:
        serve_flows(settings, context.env_file(ctx))
    except ServeError as exc:
        typer.echo(f"caseloop: {exc}", err=True)  # one line naming the setting, as settings errors
        raise typer.Exit(2) from None  # a setting to fix, like any other malformed setting
