"""`caseloop demo`: the main job on embedded defaults (see docs/demo.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from flows.cli.app import app


@app.command("demo")
def demo(
    days: Annotated[
        int,
        typer.Option(
            min=2, max=6, envvar="CASELOOP_DEMO_DAYS", help="Simulated days (the sample holds 6)."
        ),
    ] = 4,
    conversations: Annotated[
        int,
        typer.Option(
            min=1,
            max=80,
            envvar="CASELOOP_DEMO_CONVERSATIONS",
            help="Customer conversations a day (at most 80).",
        ),
    ] = 40,
    report: Annotated[
        Path,
        typer.Option("--report", file_okay=False, help="Folder for the Markdown report and plots."),
    ] = Path("reports/demo"),
    state_dir: Annotated[
        Path,
        typer.Option(
            file_okay=False, help="Folder for the demo's store, index and helpdesk (emptied first)."
        ),
    ] = Path(".caseloop/demo"),
    helpdesk_port: Annotated[
        int,
        typer.Option(
            min=1,
            max=65535,
            envvar="CASELOOP_DEMO_HELPDESK_PORT",
            help="Loopback port of the helpdesk.",
        ),
    ] = 8801,
    service_port: Annotated[
        int,
        typer.Option(
            min=1,
            max=65535,
            envvar="CASELOOP_DEMO_SERVICE_PORT",
            help="Loopback port of the caseloop service (not the helpdesk's).",
        ),
    ] = 8700,
    keep_running: Annotated[
        bool,
        typer.Option(
            "--keep-running",
            help="Leave the helpdesk and the service up; print the helpdesk's URL and login.",
        ),
    ] = False,
) -> None:
    """Run the whole loop on embedded defaults and show escalations dropping day by day.

    Starts a real django-helpdesk and the caseloop service on loopback, plays customers from the bundled Bitext sample through a simulated chatbot, lets simulated agents answer the tickets, learns from resolved tickets each night, and writes a report with plots.
    """  # A paragraph per line: `--help` keeps line breaks, then wraps to the terminal.
    import os

    # Process-wide defaults for this entry point (an explicit environment wins): Prefect's
    # local mode keeps its database beside the demo's state and logs only what goes wrong.
    os.environ.setdefault("PREFECT_HOME", str(state_dir.parent / "prefect"))
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from flows.demo import DemoError, DemoOptions, run_demo

    console = Console()
    options = DemoOptions(
        days=days,
        conversations=conversations,
        state_dir=state_dir,
        report_dir=report,
        helpdesk_port=helpdesk_port,
        service_port=service_port,
        keep_running=keep_running,
    )
    try:
        run_demo(options, console)
    except KeyboardInterrupt:
        console.print("stopped: the helpdesk and the service are shut down")
        raise typer.Exit(130) from None
    except DemoError as exc:
        # One line: the terminal wraps it, rich must not break it.
        console.print(f"[red]caseloop demo:[/red] {exc}", soft_wrap=True, highlight=False)
        raise typer.Exit(1) from None
