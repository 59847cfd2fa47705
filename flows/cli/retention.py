"""`caseloop store purge` and `caseloop store erase`: apply the raw-text retention now, or to one
customer's text whatever its age (`ingestion.cases.retention`)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from flows.cli import context
from flows.cli.app import app

store_app = typer.Typer(help="Operational store: data retention and erasure.", no_args_is_help=True)
app.add_typer(store_app, name="store")


@store_app.command("purge")
def purge_command(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would change; write nothing.")
    ] = False,
    days: Annotated[
        int | None,
        typer.Option(
            min=1, help="Override CASELOOP_RETENTION_RAW_DAYS for this run (days since resolved)."
        ),
    ] = None,
) -> None:
    """Replace the raw text of long-resolved tickets by its redaction (counts only, no values)."""
    from ingestion.cases.retention import purge

    settings = context.ingestion_settings(ctx)
    if days is not None:
        settings = settings.model_copy(update={"retention_raw_days": days})
    if not settings.retention_raw_days:
        Console(stderr=True).print(
            "retention is off (CASELOOP_RETENTION_RAW_DAYS=0): nothing purged; pass --days N"
        )
        return
    with context.store(settings) as store:
        report = purge(store, settings, dry_run=dry_run)
    Console().print(report.line())


@store_app.command("erase")
def erase_command(
    ctx: typer.Context,
    email: Annotated[str, typer.Option(help="The customer's e-mail address.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would change; write nothing.")
    ] = False,
) -> None:
    """Redact now every raw text held about one customer (a request for erasure; counts only)."""
    from ingestion.cases.retention import erase, erasure_address
    from ingestion.errors import InvalidErasure

    try:
        address = erasure_address(email)
    except InvalidErasure as exc:
        raise typer.BadParameter(str(exc), param_hint="--email") from None
    settings = context.ingestion_settings(ctx)
    with context.store(settings) as store:
        report = erase(store, settings, email=address, dry_run=dry_run)
    typer.echo(report.line())
