"""`run_demo`: start the stack, play the days, print the table and write the report.

The embedded defaults throughout: a SQLite store and an embedded Qdrant index under the demo's
state folder (emptied at the start of each run), a real django-helpdesk and the caseloop service
on loopback, Prefect in local mode for the nightly learning.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from evaluation.drop import Drop, escalation_drop
from flows.demo import display
from flows.demo.errors import InvariantBroken
from flows.demo.ledger import DayStats
from flows.demo.report import RunFacts, write_report
from flows.demo.sample import load_sample
from flows.demo.simulation import RunRecord, Simulation, fresh_dir, progress_bars
from flows.demo.stack import Ports, Stack


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What `caseloop demo` was asked to do."""

    days: int = 4
    conversations: int = 40
    state_dir: Path = Path(".caseloop/demo")
    report_dir: Path = Path("reports/demo")
    helpdesk_port: int = 8801
    service_port: int = 8700
    keep_running: bool = False


@dataclass(frozen=True, slots=True)
class DemoResult:
    """The run's figures, where its report went, and whether the loop kept its promises."""

    table: list[DayStats]
    drop: Drop
    report: Path
    problems: list[str] = field(default_factory=list)
    case_count: int = 0
    seconds: float = 0.0
    online: dict[str, str] = field(default_factory=dict)


def run_demo(
    options: DemoOptions, console: Console | None = None, *, stop: threading.Event | None = None
) -> DemoResult:
    """Run the whole demo; raises `DemoError` (with a message for the terminal) when it cannot.

    With ``options.keep_running`` it returns only on Ctrl-C, or when ``stop`` is set.
    """
    import retrieval

    console = console or Console()
    started = time.monotonic()
    sample = load_sample()
    days = sample.schedule(options.days, options.conversations)
    ports = Ports(helpdesk=options.helpdesk_port, service=options.service_port)
    ports.check()  # before emptying the state folder: a running demo may be using it
    state = fresh_dir(options.state_dir)
    console.print(
        f"caseloop demo: {options.days} simulated days × {options.conversations} conversations "
        f"(Bitext customer-support sample, CDLA-Sharing-1.0); state in {state}"
    )
    with progress_bars() as progress, Stack(state, ports) as stack:
        # Readers look for a newly published generation before every search, so the chatbot
        # answers from what the night learned as soon as the night is over.
        settings = retrieval.RetrievalSettings.load().model_copy(update={"reload_interval": 0.0})
        index_path = state / "index"
        with (
            retrieval.open_index(index_path, settings=settings) as index,
            Simulation(
                stack, index, progress, index_path=index_path, settings=settings
            ) as simulation,
        ):
            outcome = simulation.run(days, sample.calibration)
            result = _finish(options, outcome, stack, time.monotonic() - started, index)
            progress.stop()
            display.summary(console, result, outcome, stack)
            if options.keep_running:
                display.keep_running(console, stack, simulation, sample.calibration, stop)
    if result.problems:
        raise InvariantBroken("; ".join(result.problems))
    return result


def _finish(
    options: DemoOptions, outcome: RunRecord, stack: Stack, seconds: float, index: Any
) -> DemoResult:
    ledger = outcome.ledger
    table = ledger.table()
    first, last = ledger.day(table[0].day), ledger.day(table[-1].day)
    drop = escalation_drop(
        [o.action == "escalated" for o in first], [o.action == "escalated" for o in last]
    )
    calibration = outcome.calibration
    assert stack.settings is not None
    online = online_figures(stack.settings.resolved_database_url, seconds)
    facts = RunFacts(
        days=options.days,
        conversations_per_day=options.conversations,
        calibration=calibration.description if calibration else "not calibrated",
        policy=calibration.policy if calibration else {},
        helpdesk_url=stack.helpdesk.url,
        service_url=stack.service_url,
        learning=outcome.learning,
        seconds=seconds,
        online=online,
    )
    report = write_report(options.report_dir, table, drop, facts)
    return DemoResult(
        table, drop, report, list(outcome.problems), int(index.count()), seconds, online
    )


def online_figures(store_url: str, seconds: float) -> dict[str, str]:
    """The evaluation package's online metrics over this run, as short readable figures."""
    from evaluation import online_metrics

    now = dt.datetime.now(dt.UTC)
    report = online_metrics(store_url, now - dt.timedelta(seconds=seconds + 60), now)
    outcomes, tickets = report.outcomes, report.tickets
    return {
        "sessions with a reported outcome": str(outcomes["sessions"]),
        "escalation rate": _percent(outcomes["escalation_rate"]),
        "resolved by the bot, confirmed": _percent(outcomes["resolution_rate_confirmed"]),
        "resolved by the bot, confirmed or assumed": _percent(
            outcomes["resolution_rate_with_assumed"]
        ),
        "tickets (resolved)": f"{tickets['tickets']} ({tickets['resolved']})",
        "median time to first public agent reply": _seconds(tickets["first_agent_reply"]),
        "median time to resolution": _seconds(tickets["resolution"]),
    }


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _seconds(durations: dict[str, Any]) -> str:
    hours = durations.get("median_hours")
    return "–" if hours is None else f"{hours * 3600:.1f} s (simulated days are compressed)"
