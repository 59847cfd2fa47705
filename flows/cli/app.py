"""The root `caseloop` Typer application; command modules register themselves on it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="caseloop",
    help="Close the loop between a support chatbot and a ticketing system.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    env_file: Annotated[
        Path | None,
        typer.Option(
            "--env-file",
            envvar="CASELOOP_ENV_FILE",
            help="Read CASELOOP_* settings from this file as well as the environment.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """caseloop: escalate, mirror agent replies, learn from resolved tickets, measure the drop."""
    ctx.obj = {"env_file": env_file}
