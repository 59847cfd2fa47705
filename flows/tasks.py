"""What the Prefect flows share: ticketing calls as retried tasks, and the resources they own.

Ticketing calls run as tasks that retry (1, 5, 20 s) only on `TicketingUnavailable` (timeouts,
5xx, 429) and each take a slot of one global concurrency limit, ``caseloop-ticketing`` (size
``learning_ticketing_concurrency``), shared by ``nightly_learning`` and ``ticket_sync``. A flow
given no store, adapter or index opens its own from the environment's settings and closes them.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from prefect import Task, task
from prefect.cache_policies import NO_CACHE

from ingestion.errors import TicketingUnavailable
from ingestion.settings import IngestionSettings
from ingestion.store import Store, open_store
from ingestion.ticketing import TicketingAdapter

TICKETING_LIMIT = "caseloop-ticketing"
P = ParamSpec("P")
R = TypeVar("R")


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


def ticketing_task(run_name: str | None = None) -> Callable[[Callable[P, R]], Task[P, R]]:
    """The task decorator of a ticketing call: retried when unavailable, never cached."""
    return task(
        retries=3,
        retry_delay_seconds=[1, 5, 20],
        retry_condition_fn=retry_if_unavailable,
        cache_policy=NO_CACHE,
        task_run_name=run_name,
    )


def settled(future: Any, logger: Any, default: Any = (None, None)) -> Any:
    """A mapped task's result; a task that failed after its retries is logged and skipped."""
    try:
        return future.result()
    except Exception as exc:
        logger.warning("ticketing call failed after retries: %s", exc)
        return default


def owned_store(settings: IngestionSettings, resources: ExitStack) -> Store:
    """The store named by the settings, closed with ``resources``."""
    return resources.enter_context(open_store(settings.resolved_database_url))


def owned_index(resources: ExitStack, env_file: Path | None = None) -> Any:
    """The index named by the retrieval settings (environment plus ``env_file``), closed with
    ``resources``."""
    import retrieval

    return resources.enter_context(
        retrieval.open_index(settings=retrieval.RetrievalSettings.load(env_file))
    )


def owned_adapter(settings: IngestionSettings, resources: ExitStack) -> TicketingAdapter:
    """The adapter named by the settings, closed with ``resources``."""
    from ingestion.adapters import build_adapter

    return resources.enter_context(build_adapter(settings))
