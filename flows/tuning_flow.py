"""`encoder_tuning`: the Prefect step that tunes the encoder on the store (thin: see `flows.tuning`).

Runs standalone as a flow, or as a task right after ``nightly_learning`` when
``CASELOOP_RETRIEVAL_TUNE_AFTER_LEARNING`` is on. A tuning that fails is logged and leaves the
index as it was; it never fails the learning run it follows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

import retrieval
from ingestion.settings import IngestionSettings

if TYPE_CHECKING:
    from flows.tuning import TuneReport

FLOW_NAME = "encoder_tuning"


@task(cache_policy=NO_CACHE)
def tune_encoder(
    database_url: str, index: Any, settings: retrieval.RetrievalSettings
) -> TuneReport:
    """Fine-tune on the store's questions and their cases; switch the index only if better."""
    from flows.tuning import params_from, store_dataset, tune

    logger = get_run_logger()

    def progress(phase: str, done: int, total: int) -> None:
        if done == total or done % 20 == 0:
            logger.info("%s: %d of %d", phase, done, total)

    dataset, positives = store_dataset(database_url)
    report = tune(
        index, dataset, settings=settings, params=params_from(settings),
        holdout=settings.tune_holdout, positives=positives, progress=progress,
    )  # fmt: skip
    create_markdown_artifact(f"`{report.line()}`", key="encoder-tuning", description=report.line())
    logger.info(report.line())
    return report


def after_learning(settings: IngestionSettings, index: Any) -> TuneReport | None:
    """Tune after a learning run when the retrieval settings ask for it; never raises."""
    retrieval_settings = retrieval.RetrievalSettings.load()
    if not retrieval_settings.tune_after_learning:
        return None
    from evaluation import EvaluationError

    try:
        return tune_encoder(settings.resolved_database_url, index, retrieval_settings)
    except (retrieval.RetrievalError, EvaluationError, ValueError) as exc:
        get_run_logger().warning("encoder tuning failed, index unchanged: %s", exc)
        return None


@flow(name=FLOW_NAME, validate_parameters=False)
def encoder_tuning(settings: Any = None, index: Any = None) -> TuneReport:
    """Tune the index's encoder on the store once (builds what it is not given)."""
    settings = settings or IngestionSettings.load()
    retrieval_settings = retrieval.RetrievalSettings.load()
    if index is not None:
        return tune_encoder(settings.resolved_database_url, index, retrieval_settings)
    with retrieval.open_index(settings=retrieval_settings, create=False) as owned:
        return tune_encoder(settings.resolved_database_url, owned, retrieval_settings)
