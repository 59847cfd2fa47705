"""`caseloop status`: the operational figures of `/metrics`, read from the store (table or JSON)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from flows.cli import context
from flows.cli.app import app

if TYPE_CHECKING:
    from ingestion.metrics import QueueFigures, Snapshot


@app.command("status")
def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Queues, dead letters, webhook rejections, sync lag, learning and flow runs, from the store.

    Every replica and every machine sharing the store prints the same figures.
    """
    from ingestion.metrics import snapshot

    settings = context.ingestion_settings(ctx)
    store = context.store(settings)
    try:
        taken = snapshot(store)
    finally:
        store.dispose()
    if as_json:
        typer.echo(json.dumps(taken.to_dict(), indent=2, sort_keys=True))
        return
    Console().print(_table(taken))


def _table(taken: Snapshot) -> Table:
    table = Table(
        "figure", "value", title=f"caseloop status at {taken.taken_at:%Y-%m-%d %H:%M:%S}Z"
    )
    for name, figures in (("outbox", taken.outbox), ("inbox", taken.inbox), ("push", taken.pushes)):
        for label, value in _queue_rows(figures):
            table.add_row(f"{name} {label}", value)
    for source, reasons in taken.webhook_rejections.items():
        for reason, count in sorted(reasons.items()):
            table.add_row(f"webhook rejections {source} {reason}", str(count))
    for sync in taken.sync:
        poll = _seconds(sync.last_poll_age_seconds)
        table.add_row(f"sync {sync.source} lag", _seconds(sync.lag_seconds))
        table.add_row(f"sync {sync.source} last poll", f"{poll} ago")
    for state, count in sorted(taken.cases.items()):
        table.add_row(f"cases {state}", str(count))
    for outcome, count in taken.learning_last_run.items():
        table.add_row(f"last learning run {outcome}", str(count))
    for flow in taken.flows:
        runs = ", ".join(f"{status} {count}" for status, count in sorted(flow.runs.items()))
        table.add_row(f"flow {flow.flow}", f"last {flow.last_status}; {runs}")
    return table


def _queue_rows(figures: QueueFigures) -> list[tuple[str, str]]:
    return [
        ("depth", str(figures.depth)),
        ("oldest", _seconds(figures.oldest_age_seconds)),
        ("dead letters", str(figures.dead_letters)),
        ("retrying", str(figures.retrying)),
        ("attempts", str(figures.attempts)),
    ]


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}s"
