"""`evaluation_report`: the Prefect flow that computes the online metrics for a window and stores them.

Thin: `make_report` (a plain function, what the tests call) reads the store through
`evaluation.online_metrics`, writes the Markdown or HTML report with its plots
(`evaluation.write_report`) into the report folder, and records the run in ``flow_runs``
(flow ``evaluation_report``, the window, the figures and the report's path) in one transaction.
The flow wraps it in one task and publishes the report as a Markdown artifact.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from evaluation import online_metrics, write_report
from ingestion.schema import FlowRun
from ingestion.settings import IngestionSettings
from ingestion.store import Store, open_store

FLOW_NAME = "evaluation_report"


def window(
    since: dt.datetime | None, until: dt.datetime | None, days: float, now: dt.datetime
) -> tuple[dt.datetime, dt.datetime]:
    """The report window: ``[since, until)``, by default the ``days`` before ``now``."""
    end = until or now
    start = since or end - dt.timedelta(days=days)
    for name, value in (("since", start), ("until", end)):
        if value.tzinfo is None:
            raise ValueError(f"{name}: needs a time zone")
    if start >= end:
        raise ValueError("since: must be before until")
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def make_report(
    store: Store,
    *,
    since: dt.datetime,
    until: dt.datetime,
    out: Path,
    fmt: str = "md",
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Compute the window's online metrics, write the report, record the run; returns the record."""
    started = now or dt.datetime.now(dt.UTC)
    url = store.engine.url.render_as_string(hide_password=False)
    online = online_metrics(url, since, until)
    path = write_report(
        out, online=online, fmt=fmt, title=f"caseloop report {since:%Y-%m-%d} – {until:%Y-%m-%d}"
    )
    record = {"report_path": str(path), **online.as_dict()}
    with store.transaction() as session:
        session.add(
            FlowRun(
                flow=FLOW_NAME,
                status="completed",
                started_at=started,
                finished_at=dt.datetime.now(dt.UTC),
                window_start=since,
                window_end=until,
                report=record,
            )
        )
    return record


@task(cache_policy=NO_CACHE)
def report_task(
    store: Store, since: dt.datetime, until: dt.datetime, out: Path, fmt: str
) -> dict[str, Any]:
    """One task: the whole report (it is one read of the store and a few plots)."""
    return make_report(store, since=since, until=until, out=out, fmt=fmt)


@flow(name=FLOW_NAME, validate_parameters=False)
def evaluation_report(
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    days: float = 7.0,
    out: Path | None = None,
    fmt: str = "md",
    settings: Any = None,
    store: Any = None,
) -> dict[str, Any]:
    """Online metrics for ``[since, until)`` (default: the last ``days``), stored and published.

    Every argument is optional: a served deployment passes none and the flow opens the store
    named by the environment's settings.
    """
    settings = settings or IngestionSettings.load()
    start, end = window(since, until, days, dt.datetime.now(dt.UTC))
    folder = out or settings.data_dir / "reports" / f"evaluation-{end:%Y%m%dT%H%M%SZ}"
    with contextlib.ExitStack() as resources:
        store = store or resources.enter_context(open_store(settings.resolved_database_url))
        record = report_task(store, start, end, folder, fmt)
    outcomes = record["session_outcomes"]
    create_markdown_artifact(
        key="evaluation-report",
        markdown=(
            f"# Evaluation report {start:%Y-%m-%d} – {end:%Y-%m-%d}\n\n"
            f"- escalations: {record['escalations']}\n"
            f"- sessions with an outcome: {outcomes['sessions']}, "
            f"escalation rate: {outcomes['escalation_rate']}\n"
            f"- content gaps: {len(record['content_gaps'])}\n"
            f"- report: {record['report_path']}\n"
        ),
    )
    get_run_logger().info(
        "evaluation report %s: %s escalations, written to %s",
        f"{start:%Y-%m-%d}–{end:%Y-%m-%d}", record["escalations"], record["report_path"],
    )  # fmt: skip
    return record
