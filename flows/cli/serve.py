"""`caseloop serve`: the HTTP service (escalations, webhooks, messages, outcomes) under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from flows.cli import context
from flows.cli.app import app


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option(help="Bind address (default: CASELOOP_SERVICE_HOST).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (default: CASELOOP_SERVICE_PORT).", min=1, max=65535)
    ] = None,
) -> None:
    """Start the HTTP service; OpenAPI docs at /docs. Stops cleanly on SIGTERM or Ctrl-C."""
    import uvicorn

    from ingestion.http import create_app

    settings = context.ingestion_settings(ctx)
    with context.store(settings) as store:
        uvicorn.run(
            create_app(settings, store),
            host=host or settings.service_host,
            port=port or settings.service_port,
            log_level="info",
        )
