"""The `caseloop` command's entry point: one readable line when the install lacks an extra.

The command ships with every install, but its code needs more than the base (`pip install
caseloop` is the orchestrator's `retrieval` only): rather than a traceback, name the extra to add.
"""

from __future__ import annotations

import sys

#: The extra that brings each top-level module the commands import (see pyproject.toml).
EXTRAS = {
    "alembic": "service",
    "fastapi": "service",
    "httpx": "service",
    "rich": "service",
    "sqlalchemy": "service",
    "typer": "service",
    "uvicorn": "service",
    "matplotlib": "eval",
    "pandas": "eval",
    "ranx": "eval",
    "prefect": "flows",
    "django": "demo",
    "helpdesk": "demo",
}


def main() -> None:
    """Run the `caseloop` command, or say which extra it needs."""
    try:
        from flows.cli import main as command
    except ModuleNotFoundError as exc:
        root = (exc.name or "").split(".")[0]
        if root not in EXTRAS:
            raise
        extra = EXTRAS[root]
        sys.exit(
            f"caseloop: this install lacks {root!r}; the command needs the {extra!r} extra: "
            f"pip install 'caseloop[{extra}]'"
        )
    command()
