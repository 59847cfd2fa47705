"""`caseloop learn`, `caseloop sync-once` and `caseloop flows serve`: the learning side's commands."""

from __future__ import annotations

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
    from ingestion.cases import learn
    from ingestion.cases.runs import finish_run, last_success, start_run

    settings = context.ingestion_settings(ctx)
    store = context.store(settings)
    window = None if everything else (_since(since) or last_success(store, "nightly_learning"))
    adapter = build_adapter(settings) if pull or settings.learning_write_note else None
    index = retrieval.open_index(settings=retrieval.RetrievalSettings.load())
    console = Console(stderr=True)
    started = dt.datetime.now(dt.UTC)
    run_id = start_run(store, "nightly_learning", now=started, window_start=window)
    try:
        with context.progress_bar(console) as bar:
            task = bar.add_task("learning", total=None)
            report = learn(
                store,
                adapter,
                index,
                settings,
                since=window,
                refresh=pull,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    except Exception as exc:
        finish_run(store, run_id, ok=False, report={"error": str(exc)}, now=dt.datetime.now(dt.UTC))
        console.print(f"[red]learning failed: {exc}")
        raise typer.Exit(1) from None
    finally:
        index.close()
        if adapter is not None:
            adapter.close()
    finish_run(store, run_id, ok=report.ok, report=report.to_dict(), now=dt.datetime.now(dt.UTC))
    store.dispose()
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
    from ingestion.adapters import build_adapter

    settings = context.ingestion_settings(ctx)
    store = context.store(settings)
    adapter = build_adapter(settings)
    console = Console(stderr=True)
    try:
        with context.progress_bar(console) as bar:
            task = bar.add_task("checking tickets", total=None)
            report = sync_once(
                settings,
                store,
                adapter,
                drain_relay=drain,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    finally:
        adapter.close()
        store.dispose()
    Console().print(report.line())
    for found in report.drift:
        Console().print(f"drift {found.external_id}: {found.kind} ({found.detail})")
    if report.failed:
        raise typer.Exit(2)


@flows_app.command("serve")
def serve_command(ctx: typer.Context) -> None:
    """Register nightly_learning (cron) and ticket_sync (interval) with the Prefect server at
    PREFECT_API_URL and run them until interrupted."""
    from flows.serve import ServeError, serve_flows

    settings = context.ingestion_settings(ctx)
    try:
        serve_flows(settings)
    except ServeError as exc:
        Console(stderr=True).print(f"[red]{exc}")
        raise typer.Exit(1) from None
