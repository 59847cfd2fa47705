"""The `caseloop` command line. Each command lives in its own module and registers itself on `app`.

Command modules import their heavy dependencies (Prefect, torch, the helpdesk) inside the command
function, so `caseloop --help` stays fast.
"""

from __future__ import annotations

import sys

import typer

from flows.cli import (
    db,  # noqa: F401  (registers commands)
    demo,  # noqa: F401  (registers commands)
    eval,  # noqa: F401  (registers commands)
    keys,  # noqa: F401  (registers commands)
    learn,  # noqa: F401  (registers commands)
    models,  # noqa: F401  (registers commands)
    outbox,  # noqa: F401  (registers commands)
    relay,  # noqa: F401  (registers commands)
    retention,  # noqa: F401  (registers commands)
    serve,  # noqa: F401  (registers commands)
    status,  # noqa: F401  (registers commands)
    sync,  # noqa: F401  (registers commands)
    tune,  # noqa: F401  (registers commands)
    webhooks,  # noqa: F401  (registers commands)
)
from flows.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point.

    A command-line mistake (an option value out of range, a file where a folder is wanted, an
    unknown option) is one line on stderr naming the command, exit status 2, instead of Click's
    usage block and error panel.
    """
    try:
        code = app(prog_name="caseloop", standalone_mode=False)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(1)
    except typer.TyperException as exc:
        ctx = getattr(exc, "ctx", None)  # usage errors know the command they belong to
        command = ctx.command_path if ctx is not None else "caseloop"
        hint = f" (see {command} --help)" if ctx is not None else ""
        print(f"{command}: {exc.format_message()}{hint}", file=sys.stderr)
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
