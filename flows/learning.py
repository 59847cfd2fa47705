"""`nightly_learning`: the Prefect flow around `ingestion.cases.learn` (thin: no logic of its own).

Window: since the start of the last completed run (``flow_runs``), plus every repair `learn`
finds by itself (resolved tickets without a summary, versions the index lacks). What changed in
the ticketing system in the window is pulled first through the update applier; ticketing calls
(the pull, the optional notes) retry on `TicketingUnavailable` and take a slot of a Prefect
global concurrency limit (``learning_ticketing_concurrency``). Then `learn` builds, redacts, summarises, tags, stores, indexes and retracts. The run report is
stored in ``flow_runs``, published as a Markdown artifact and logged as one line.
"""

from __future__ import annotations

import datetime as dt
from contextlib import ExitStack
from typing import Any

from prefect import flow, get_run_logger, task, unmapped
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.tuning_flow import after_learning
from ingestion.cases import LearningReport, learn, write_note
from ingestion.cases.refresh import pull_updates
from ingestion.cases.runs import finish_run, last_success, start_run
from ingestion.errors import TicketingUnavailable
from ingestion.settings import IngestionSettings
from ingestion.store import Store, open_store

FLOW_NAME = "nightly_learning"
TICKETING_LIMIT = "caseloop-ticketing"


def retry_if_unavailable(task: Any, task_run: Any, state: Any) -> bool:
    """Retry ticketing calls only when the failure is retryable (timeouts, 5xx, 429)."""
    try:
        state.result()
    except TicketingUnavailable:
        return True
    except Exception:
        return False
    return False


def ensure_ticketing_limit(settings: IngestionSettings) -> None:
    """Create or resize the global concurrency limit shared by every ticketing task."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(
            TICKETING_LIMIT, max(1, settings.learning_ticketing_concurrency)
        )


def ticketing_slot() -> Any:
    """A slot of the ticketing concurrency limit (context manager)."""
    from prefect.concurrency.sync import concurrency

    return concurrency(TICKETING_LIMIT, occupy=1, strict=False)


@task(
    retries=3,
    retry_delay_seconds=[1, 5, 20],
    retry_condition_fn=retry_if_unavailable,
    cache_policy=NO_CACHE,
)
def pull(store: Any, adapter: Any, settings: Any, since: dt.datetime | None) -> dict[int, str]:
    """Pull tickets updated since the window start through the update applier."""
    with ticketing_slot():
        return pull_updates(store, adapter, settings, since)


@task(
    retries=3,
    retry_delay_seconds=[1, 5, 20],
    retry_condition_fn=retry_if_unavailable,
    cache_policy=NO_CACHE,
    task_run_name="note-{case_id}",
)
def note(store: Any, adapter: Any, case_id: str) -> bool:
    """Write one case's "Resolution summary" note (idempotent)."""
    with ticketing_slot():
        return write_note(store, adapter, case_id)


@task(cache_policy=NO_CACHE)
def learn_cases(
    store: Any, index: Any, settings: Any, since: dt.datetime | None, live: dict[int, str]
) -> LearningReport:
    """Build, redact, summarise, tag, store, index and retract (no ticketing calls)."""
    logger = get_run_logger()

    def progress(done: int, total: int) -> None:
        logger.info("learning: %d of %d candidate tickets", done, total)

    return learn(store, None, index, settings, since=since, live_status=live, progress=progress)


@flow(name=FLOW_NAME, validate_parameters=False)
def nightly_learning(
    settings: Any = None,
    store: Any = None,
    adapter: Any = None,
    index: Any = None,
    since: dt.datetime | None = None,
    refresh_tickets: bool = True,
) -> LearningReport:
    """Learn from what was resolved or reopened since the last successful run.

    Every argument is optional: a served deployment passes none and the flow builds the store,
    the adapter and the index from the environment's settings.
    """
    settings = settings or IngestionSettings.load()
    with ExitStack() as resources:
        store = store or owned_store(settings, resources)
        index = index or owned_index(resources)
        if adapter is None and (refresh_tickets or settings.learning_write_note):
            adapter = owned_adapter(settings, resources)
        report = _run(settings, store, adapter, index, since, refresh_tickets)
        after_learning(settings, index)  # encoder tuning, if CASELOOP_RETRIEVAL_TUNE_AFTER_LEARNING
        return report


def _run(
    settings: IngestionSettings,
    store: Store,
    adapter: Any,
    index: Any,
    since: dt.datetime | None,
    refresh_tickets: bool,
) -> LearningReport:
    logger = get_run_logger()
    started = dt.datetime.now(dt.UTC)
    window = since or last_success(store, FLOW_NAME)
    run_id = start_run(store, FLOW_NAME, now=started, window_start=window)
    try:
        live: dict[int, str] = {}
        if adapter is not None and refresh_tickets:
            ensure_ticketing_limit(settings)
            live = pull(store, adapter, settings, window)
        report = learn_cases(store, index, settings, window, live)
        if adapter is not None and settings.learning_write_note:
            ensure_ticketing_limit(settings)
            cases = [o.case_id for o in [*report.created, *report.updated]]
            report.notes_written = sum(
                bool(settled(f, logger, False))
                for f in note.map(unmapped(store), unmapped(adapter), cases)
            )
    except BaseException as exc:
        finish_run(store, run_id, ok=False, report={"error": str(exc)}, now=dt.datetime.now(dt.UTC))
        raise
    finish_run(store, run_id, ok=report.ok, report=report.to_dict(), now=dt.datetime.now(dt.UTC))
    create_markdown_artifact(report.markdown(), key="learning-report", description=report.line())
    logger.info(report.line())
    return report


def settled(future: Any, logger: Any, default: Any = (None, None)) -> Any:
    """A mapped task's result; a task that failed after its retries is logged and skipped."""
    try:
        return future.result()
    except Exception as exc:
        logger.warning("ticketing call failed after retries: %s", exc)
        return default


def owned_store(settings: IngestionSettings, resources: ExitStack) -> Store:
    store = open_store(settings.resolved_database_url)
    resources.callback(store.dispose)
    return store


def owned_index(resources: ExitStack) -> Any:
    import retrieval

    index = retrieval.open_index(settings=retrieval.RetrievalSettings.load())
    resources.callback(index.close)
    return index


def owned_adapter(settings: IngestionSettings, resources: ExitStack) -> Any:
    from ingestion.adapters import build_adapter

    adapter = build_adapter(settings)
    resources.callback(adapter.close)
    return adapter
