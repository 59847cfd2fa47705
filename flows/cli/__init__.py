"""The `caseloop` command line. Each command lives in its own module and registers itself on `app`.

Command modules import their heavy dependencies (Prefect, torch, the helpdesk) inside the command
function, so `caseloop --help` stays fast.
"""

from __future__ import annotations

from flows.cli import (
    db,  # noqa: F401  (registers commands)
    demo,  # noqa: F401  (registers commands)
    eval,  # noqa: F401  (registers commands)
    learn,  # noqa: F401  (registers commands)
    models,  # noqa: F401  (registers commands)
    outbox,  # noqa: F401  (registers commands)
    relay,  # noqa: F401  (registers commands)
    serve,  # noqa: F401  (registers commands)
    sync,  # noqa: F401  (registers commands)
    tune,  # noqa: F401  (registers commands)
    webhooks,  # noqa: F401  (registers commands)
)
from flows.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    app()
