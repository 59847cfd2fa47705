"""`nightly_learning`: the Prefect flow around `ingestion.cases.run_learning` (thin: no logic).

`run_learning` is the one entry ``caseloop learn`` calls too: the window (since the start of the
last completed run in ``flow_runs``, plus every repair `learn` finds by itself), the run's
bookkeeping, and `learn` (pull, build, redact, summarise, tag, store, index, retract, notes). The
flow only gives it `TaskTicketing`: its ticketing calls (the pull, the optional notes) are Prefect
tasks that retry on `TicketingUnavailable` and take a slot of a global concurrency limit
(``learning_ticketing_concurrency``). The report is published as a Markdown artifact and logged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, unmapped
from prefect.artifacts import create_markdown_artifact

from flows.errors import RunFailed
from flows.tasks import (
    TICKETING_LIMIT,
    ensure_ticketing_limit,
    owned_adapter,
    owned_index,
    owned_store,
    settled,
    ticketing_slot,
    ticketing_task,
)
from flows.tuning_flow import after_learning
from ingestion.cases import AdapterTicketing, LearningReport, run_learning, write_note
from ingestion.cases.refresh import pull_updates
from ingestion.cases.runs import LEARNING
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from ingestion.ticketing import TicketingAdapter

FLOW_NAME = LEARNING
__all__ = ["FLOW_NAME", "TICKETING_LIMIT", "TaskTicketing", "nightly_learning"]


@ticketing_task()
def pull(
    store: Store, adapter: TicketingAdapter, settings: IngestionSettings, since: dt.datetime | None
) -> dict[int, str]:
    """Pull tickets updated since the window start through the update applier."""
    with ticketing_slot():
        return pull_updates(store, adapter, settings, since)


@ticketing_task("note-{case_id}")
def note(store: Store, adapter: TicketingAdapter, case_id: str) -> bool:
    """Write one case's "Resolution summary" note (idempotent)."""
    with ticketing_slot():
        return write_note(store, adapter, case_id)


@dataclass(frozen=True, slots=True)
class TaskTicketing(AdapterTicketing):
    """Learning's ticketing calls as Prefect tasks: retried on `TicketingUnavailable`, each in a
    slot of the ``caseloop-ticketing`` concurrency limit; notes are mapped, one task a case."""

    def pull_now(self, since: dt.datetime | None) -> Mapping[int, str]:
        ensure_ticketing_limit(self.settings)
        return pull(self.store, self.adapter, self.settings, since)

    def write_notes(self, case_ids: Sequence[str]) -> int:
        ensure_ticketing_limit(self.settings)
        futures = note.map(unmapped(self.store), unmapped(self.adapter), list(case_ids))
        logger = get_run_logger()
        return sum(bool(settled(future, logger, False)) for future in futures)


@flow(name=FLOW_NAME, validate_parameters=False)
def nightly_learning(
    # Prefect derives a parameter schema from the annotations: the objects stay Any.
    settings: Any = None,
    store: Any = None,
    adapter: Any = None,
    index: Any = None,
    since: dt.datetime | None = None,
    refresh_tickets: bool = True,
    env_file: str | None = None,
) -> LearningReport:
    """Learn from what was resolved or reopened since the last successful run.

    Every argument is optional: a served deployment passes only ``env_file`` (the settings file
    of `caseloop --env-file … flows serve`) and the flow builds the store, the adapter and the
    index from the environment plus that file, as the command line does. A run that failed any
    case raises `RunFailed` (state ``Failed``) after storing and publishing its report.
    """
    file = Path(env_file) if env_file else None
    settings = settings or IngestionSettings.load(file)
    logger = get_run_logger()

    def progress(done: int, total: int) -> None:
        logger.info("learning: %d of %d candidate tickets", done, total)

    with ExitStack() as resources:
        store = store or owned_store(settings, resources)
        index = index or owned_index(resources, file)
        if adapter is None and (refresh_tickets or settings.learning_write_note):
            adapter = owned_adapter(settings, resources)
        ticketing = None
        if adapter is not None:
            ticketing = TaskTicketing(store, adapter, settings, refresh=refresh_tickets)
        report = run_learning(store, ticketing, index, settings, since=since, progress=progress)
        after_learning(settings, index)  # encoder tuning, if CASELOOP_RETRIEVAL_TUNE_AFTER_LEARNING
    create_markdown_artifact(report.markdown(), key="learning-report", description=report.line())
    logger.info(report.line())
    if not report.ok:
        raise RunFailed(report.line(), report)
    return report
