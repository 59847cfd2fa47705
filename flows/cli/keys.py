"""`caseloop keys`: create, list and revoke the API keys callers present to `caseloop serve`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from flows.cli import context
from flows.cli.app import app

keys_app = typer.Typer(
    help="API keys of the HTTP service: create, list, revoke.", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")


def _when(value: object) -> str:
    return value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else "never"


@keys_app.command("create")
def create(
    ctx: typer.Context,
    scope: Annotated[
        list[str],
        typer.Option(help="escalate, messages:read, outcomes:write or admin (repeatable)."),
    ],
    tenant: Annotated[
        str | None,
        typer.Option(help="The key's tenant, or * for all; optional in single-tenant mode."),
    ] = None,
    name: Annotated[str, typer.Option(help="A label for `keys list`.")] = "",
) -> None:
    """Create a key and print it once, alone on the last line (only its hash is stored)."""
    from ingestion.errors import InvalidKey
    from ingestion.keys import create_key
    from ingestion.tenancy import ALL_TENANTS

    settings = context.ingestion_settings(ctx)
    if tenant is None and settings.multi_tenant:
        raise typer.BadParameter(
            "required in multi-tenant mode (or * for all)", param_hint="--tenant"
        )
    store = context.store(settings)
    try:
        key, info = create_key(store, tenant=tenant or ALL_TENANTS, scopes=scope, name=name)
    except InvalidKey as exc:
        raise typer.BadParameter(str(exc)) from None
    finally:
        store.dispose()
    typer.echo(f"key {info.prefix} for tenant {info.tenant}, scopes {' '.join(info.scopes)}")
    typer.echo("store it now: it is not shown again")
    typer.echo(key)


@keys_app.command("list")
def list_keys(ctx: typer.Context) -> None:
    """Every key: prefix, tenant, scopes, created, last used, revoked (never the key)."""
    from ingestion.keys import list_keys as stored_keys

    store = context.store(context.ingestion_settings(ctx))
    try:
        keys = stored_keys(store)
    finally:
        store.dispose()
    table = Table("prefix", "name", "tenant", "scopes", "created", "last used", "revoked")
    for key in keys:
        table.add_row(
            key.prefix,
            key.name,
            key.tenant,
            " ".join(key.scopes),
            _when(key.created_at),
            _when(key.last_used_at),
            _when(key.revoked_at) if key.revoked_at else "",
        )
    Console(width=200).print(table)


@keys_app.command("revoke")
def revoke(
    ctx: typer.Context,
    prefix: Annotated[str, typer.Argument(help="The key's prefix (or the key itself).")],
) -> None:
    """Revoke a key: refused from then on (within CASELOOP_API_KEY_CACHE_SECONDS)."""
    from ingestion.errors import NotFound
    from ingestion.keys import revoke_key

    store = context.store(context.ingestion_settings(ctx))
    try:
        info = revoke_key(store, prefix)
    except NotFound as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    finally:
        store.dispose()
    typer.echo(f"key {info.prefix} revoked at {_when(info.revoked_at)}")
