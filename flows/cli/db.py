"""`caseloop db`: create or upgrade the operational store."""

from __future__ import annotations

import typer
from rich.console import Console

from flows.cli import context
from flows.cli.app import app

db_app = typer.Typer(help="Operational store: migrate and inspect.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def upgrade(ctx: typer.Context) -> None:
    """Create the store or bring it to the latest schema (Alembic)."""
    from ingestion.store import current_revision

    with context.store(context.ingestion_settings(ctx)) as store:
        Console().print(f"store at revision {current_revision(store.engine)}")
