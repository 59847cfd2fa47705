"""`caseloop outbox`: inspect pending and dead outbox rows, and re-drive dead ones."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from flows.cli import context
from flows.cli.app import app

outbox_app = typer.Typer(help="The escalation outbox: list and re-drive.", no_args_is_help=True)
app.add_typer(outbox_app, name="outbox")

STATES = {"pending": ("pending",), "dead": ("dead",), "all": ("pending", "dead")}


@outbox_app.command("list")
def list_rows(
    ctx: typer.Context,
    state: Annotated[
        str, typer.Option(help="Which rows: pending, dead or all (pending and dead).")
    ] = "all",
    limit: Annotated[int, typer.Option(min=1, help="At most this many rows.")] = 100,
) -> None:
    """List pending and dead rows with attempts and last error, then the queue's health."""
    from ingestion import outbox

    if state not in STATES:
        raise typer.BadParameter(f"{state!r}: choose pending, dead or all", param_hint="--state")
    with context.store(context.ingestion_settings(ctx)) as store:
        rows = outbox.list_rows(store, STATES[state], limit)
        counts = outbox.counts(store)
        age = outbox.oldest_pending_age(store, now=dt.datetime.now(dt.UTC))
    table = Table("id", "state", "topic", "conversation", "attempts", "next attempt", "last error")
    for row in rows:
        table.add_row(
            str(row.id),
            row.state,
            row.topic,
            row.aggregate_id,
            str(row.attempts),
            row.next_attempt_at.isoformat(timespec="seconds"),
            row.last_error or "",
        )
    console = Console(width=200)
    console.print(table)
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "empty"
    oldest = "none pending" if age is None else f"oldest pending {age:.0f} s old"
    console.print(f"outbox: {summary}; {oldest}")


@outbox_app.command("redrive")
def redrive(
    ctx: typer.Context,
    ids: Annotated[list[int] | None, typer.Argument(help="Dead row ids to re-drive.")] = None,
    all_rows: Annotated[bool, typer.Option("--all", help="Re-drive every dead row.")] = False,
) -> None:
    """Put dead rows back in the queue with fresh attempts (their escalations become pending)."""
    from ingestion import outbox

    if not ids and not all_rows:
        raise typer.BadParameter("name dead row ids, or pass --all", param_hint="IDS")
    with context.store(context.ingestion_settings(ctx)) as store:
        count = outbox.redrive(store, None if all_rows else ids, now=dt.datetime.now(dt.UTC))
    Console().print(f"re-drove {count} dead row(s)")
