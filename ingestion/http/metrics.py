"""`GET /metrics`: the store's operational figures in the Prometheus text format.

Every scrape reads `ingestion.metrics.snapshot` from the store (nothing is counted in process
memory), so any replica answers the same and a restart loses nothing. The router stands alone so
it carries its own guard: a scraper sends an API key with the ``admin`` scope (Prometheus's
``authorization`` setting), like every other route but health and the webhooks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ingestion.http.auth import AUTH_RESPONSES, require
from ingestion.http.deps import get_store
from ingestion.metrics import QueueFigures, Snapshot, snapshot
from ingestion.store import Store

router = APIRouter(
    tags=["metrics"], dependencies=[Depends(require("admin"))], responses={**AUTH_RESPONSES}
)


@router.get("/metrics", response_class=Response)
def metrics(store: Annotated[Store, Depends(get_store)]) -> Response:
    """Prometheus exposition of the figures in `docs/operations.md`."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Figures(snapshot(store)))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class _Figures:
    """A one-scrape collector over one snapshot."""

    def __init__(self, taken: Snapshot) -> None:
        self.taken = taken

    def collect(self) -> Iterator[Metric]:
        taken = self.taken
        yield from _queue("outbox", "Escalation outbox rows", taken.outbox)
        yield from _queue("inbox", "Webhook deliveries waiting in the inbox", taken.inbox)
        yield from _queue("push", "Agent replies waiting to be pushed", taken.pushes)
        rejections = CounterMetricFamily(
            "caseloop_webhook_rejections", "Webhook deliveries refused", labels=["source", "reason"]
        )
        for source, reasons in taken.webhook_rejections.items():
            for reason, count in reasons.items():
                rejections.add_metric([source, reason], count)
        yield rejections
        yield from _sync(taken)
        cases = GaugeMetricFamily("caseloop_cases", "Stored case versions", labels=["state"])
        for state, count in taken.cases.items():
            cases.add_metric([state], count)
        yield cases
        last = GaugeMetricFamily(
            "caseloop_learning_last_run_cases",
            "Cases by outcome in the latest finished learning run",
            labels=["outcome"],
        )
        for outcome, count in taken.learning_last_run.items():
            last.add_metric([outcome], count)
        yield last
        yield from _flows(taken)


def _queue(name: str, what: str, figures: QueueFigures) -> Iterator[Metric]:
    prefix = f"caseloop_{name}"
    yield GaugeMetricFamily(f"{prefix}_depth", f"{what}: pending", value=figures.depth)
    oldest = figures.oldest_age_seconds or 0.0
    yield GaugeMetricFamily(
        f"{prefix}_oldest_age_seconds", f"{what}: age of the oldest pending (0: none)", oldest
    )
    yield GaugeMetricFamily(
        f"{prefix}_dead_letters", f"{what}: given up (dead letters)", value=figures.dead_letters
    )
    yield GaugeMetricFamily(
        f"{prefix}_retrying", f"{what}: pending after a failed attempt", value=figures.retrying
    )
    yield CounterMetricFamily(
        f"{prefix}_attempts", f"{what}: attempts recorded on held rows", value=figures.attempts
    )


def _sync(taken: Snapshot) -> Iterator[Metric]:
    lag = GaugeMetricFamily(
        "caseloop_sync_lag_seconds", "Now minus the sync cursor time", labels=["source"]
    )
    poll = GaugeMetricFamily(
        "caseloop_sync_last_poll_age_seconds",
        "Seconds since the last completed poll started",
        labels=["source"],
    )
    for source in taken.sync:
        lag.add_metric([source.source], source.lag_seconds)
        if source.last_poll_age_seconds is not None:
            poll.add_metric([source.source], source.last_poll_age_seconds)
    yield lag
    yield poll


def _flows(taken: Snapshot) -> Iterator[Metric]:
    runs = CounterMetricFamily(
        "caseloop_flow_runs", "Recorded flow runs by status", labels=["flow", "status"]
    )
    last = GaugeMetricFamily(
        "caseloop_flow_last_run_failed", "1 when the latest run of the flow failed", labels=["flow"]
    )
    started = GaugeMetricFamily(
        "caseloop_flow_last_run_started_timestamp_seconds",
        "Start of the latest run (Unix time)",
        labels=["flow"],
    )
    for flow in taken.flows:
        for status, count in flow.runs.items():
            runs.add_metric([flow.flow, status], count)
        last.add_metric([flow.flow], 1.0 if flow.last_status == "failed" else 0.0)
        started.add_metric([flow.flow], flow.last_started_at.timestamp())
    yield runs
    yield last
    yield started
