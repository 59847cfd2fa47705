"""What the demo prints: the day-by-day table, the drop, and the `--keep-running` hand-over."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.table import Table

from flows.demo.report import drop_line
from flows.demo.sample import Conversation

#: Terminal headers (the report spells them out): they must fit 80 columns when piped.
SHORT = (
    ("day", "day"),
    ("conversations", "chats"),
    ("answered_right", "bot\nright"),
    ("answered_wrong", "bot\nwrong"),
    ("escalations", "escalated"),
    ("tickets_created", "tickets"),
    ("replies_forwarded", "replies\nfwd"),
    ("notes_forwarded", "notes\nfwd"),
    ("cases_learned", "learned"),
)
CAPTION = (
    "bot right/wrong: answered from a case summary of the same/another intent; "
    "replies fwd: agents' public replies that reached the chat; notes fwd: internal notes that "
    "did (must be 0); learned: case summaries written that night"
)

if TYPE_CHECKING:
    from flows.demo.run import DemoResult
    from flows.demo.simulation import RunRecord, Simulation
    from flows.demo.stack import Stack


def summary(console: Console, result: DemoResult, outcome: RunRecord, stack: Stack) -> None:
    """The table, the drop with its interval, the calibration used and the invariants."""
    table = Table(
        title="caseloop demo, day by day",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        pad_edge=False,
    )
    for _, title in SHORT:
        table.add_column(title, justify="right")
    last = result.table[-1].day
    for stats in result.table:
        cells = [str(getattr(stats, name)) for name, _ in SHORT]
        if stats.day == last:
            cells[-1] = "–"  # the run ends before the last night
        table.add_row(*cells)
    console.print(table)
    console.print(CAPTION, style="dim")
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
    online = result.online
    if online:
        console.print(
            "online metrics (evaluation package): bot resolution "
            f"{online['resolved by the bot, confirmed']} confirmed, "
            f"{online['resolved by the bot, confirmed or assumed']} with assumed; "
            f"escalation rate {online['escalation rate']} over "
            f"{online['sessions with a reported outcome']} sessions"
        )
    console.print(
        f"{result.case_count} case summaries in the index; whole run {result.seconds:.0f} s"
    )


def handover(helpdesk_url: str, username: str, password: str, service_url: str) -> list[str]:
    """Where to log in, one fact a line, each short enough for an 80-column terminal
    (so the password is never split across lines when copied)."""
    return [
        "",
        f"The helpdesk stays up: {helpdesk_url}",
        f"  login {username} / {password}",
        f"The caseloop service: {service_url} (API pages: /docs)",
    ]


def keep_running(
    console: Console,
    stack: Stack,
    simulation: Simulation,
    questions: Sequence[Conversation],
    stop: threading.Event | None = None,
) -> None:
    """Leave everything up; one more customer waits for a person to answer in the helpdesk.

    Runs until Ctrl-C (or until ``stop`` is set, for tests), printing every reply that reaches
    the waiting customer.
    """
    stop = stop or threading.Event()
    helpdesk = stack.helpdesk
    waiting = questions[-1]
    outcome = simulation.escalate_now(waiting)
    for line in handover(
        f"{helpdesk.url}/helpdesk/",
        helpdesk.admin_username,
        helpdesk.admin_password,
        stack.service_url,
    ):
        console.print(line, highlight=False)
    console.print(
        f"A customer is waiting in ticket {outcome.ticket_id}: “{waiting.message}”. Answer it in "
        "the helpdesk (a public follow-up); internal notes stay internal. Ctrl-C stops everything."
    )
    seen = 0
    while not stop.is_set():
        stack.check()
        replies = simulation.replies(outcome.session_id)
        for body in replies[seen:]:
            stamp = dt.datetime.now().strftime("%H:%M:%S")
            console.print(f"[green]{stamp} reply reached the customer:[/green] {body}")
        seen = len(replies)
        stop.wait(1.0)
