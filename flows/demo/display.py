"""What the demo prints: the day-by-day table, the drop, and the `--keep-running` hand-over."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from flows.demo.report import COLUMNS, drop_line
from flows.demo.sample import Conversation

if TYPE_CHECKING:
    from flows.demo.run import DemoResult
    from flows.demo.simulation import RunRecord, Simulation
    from flows.demo.stack import Stack


def summary(console: Console, result: DemoResult, outcome: RunRecord, stack: Stack) -> None:
    """The table, the drop with its interval, the calibration used and the invariants."""
    table = Table(title="caseloop demo, day by day", title_justify="left")
    for _, title in COLUMNS:
        table.add_column(title, justify="right")
    for stats in result.table:
        table.add_row(*(str(getattr(stats, name)) for name, _ in COLUMNS))
    console.print(table)
    console.print(drop_line(result.drop))
    calibration = outcome.calibration
    console.print(f"verdict: {calibration.description if calibration else 'not calibrated'}")
    if result.problems:
        for problem in result.problems:
            console.print(f"[red]invariant broken:[/red] {problem}")
    else:
        console.print(
            "invariants hold: one ticket per escalated conversation, every public reply "
            "forwarded exactly once, no internal note forwarded"
        )
    console.print(f"report: {result.report} (plot: {result.report.parent / 'escalations.png'})")


def keep_running(
    console: Console, stack: Stack, simulation: Simulation, questions: Sequence[Conversation]
) -> None:
    """Leave everything up; one more customer waits for a person to answer in the helpdesk."""
    helpdesk = stack.helpdesk
    waiting = questions[-1]
    outcome = simulation.escalate_now(waiting)
    console.print(
        f"\nThe helpdesk stays up at {helpdesk.url}/helpdesk/ "
        f"(login [bold]{helpdesk.admin_username}[/bold] / [bold]{helpdesk.admin_password}[/bold]); "
        f"the caseloop service at {stack.service_url}."
    )
    console.print(
        f"A customer is waiting in ticket {outcome.ticket_id}: “{waiting.message}”. Answer it in "
        "the helpdesk (a public follow-up); internal notes stay internal. Ctrl-C stops everything."
    )
    seen = 0
    while True:
        stack.check()
        replies = simulation.replies(outcome.session_id)
        for body in replies[seen:]:
            console.print(
                f"[green]{dt.datetime.now():%H:%M:%S} reply reached the customer:[/green] {body}"
            )
        seen = len(replies)
        time.sleep(1.0)
