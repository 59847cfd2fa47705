"""`nightly_learning` under the session's Prefect harness: window, report, artifact, idempotence."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

import retrieval
from flows.errors import RunFailed
from flows.learning import FLOW_NAME, nightly_learning
from ingestion.schema import FlowRun
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from tests.ingestion.cases.counting import CountingIndex
from tests.ingestion.cases.world import World

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def index(tmp_path: Path) -> Iterator[CountingIndex]:
    with retrieval.open_index(tmp_path / "index") as opened:
        yield CountingIndex(opened)


def _runs(store: Store) -> list[FlowRun]:
    with store.transaction() as tx:
        return list(
            tx.scalars(select(FlowRun).where(FlowRun.flow == FLOW_NAME).order_by(FlowRun.id))
        )


def test_nightly_learning_learns_then_reruns_without_writes(
    sqlite_store: Store, index: CountingIndex
) -> None:
    world = World(sqlite_store)
    world.escalate(
        "1", "I was charged twice for my subscription this month", intent="double_charge"
    )
    world.resolve("1", "We refunded the duplicate charge; it shows on your statement in 3 days.")
    settings = IngestionSettings()

    first = nightly_learning(
        settings=settings, store=sqlite_store, index=index, refresh_tickets=False
    )
    assert [o.case_id for o in first.created] == ["sim:1"]
    writes = index.writes
    second = nightly_learning(
        settings=settings, store=sqlite_store, index=index, refresh_tickets=False
    )
    assert second.learned == 0
    assert index.writes == writes

    runs = _runs(sqlite_store)
    assert [r.status for r in runs] == ["completed", "completed"]
    assert runs[0].window_start is None
    assert runs[1].window_start == runs[0].started_at  # the window starts where the last run began
    assert runs[0].report["counts"]["created"] == 1
    assert runs[1].report["counts"]["created"] == 0

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["learning-report"]))
        )
    assert any("| created | 1 |" in str(a.data) for a in artifacts)


def test_a_failing_index_fails_the_cases_and_the_run_keeping_the_report(
    sqlite_store: Store, index: CountingIndex
) -> None:
    world = World(sqlite_store)
    world.escalate("9", "How do I export my invoices?", intent="invoices")
    world.resolve("9", "Open Billing, choose Invoices and press Export as PDF.")

    class Refusing(CountingIndex):
        def upsert(self, docs, vectors=None):  # type: ignore[no-untyped-def]
            raise retrieval.EngineError("disk full")

    state = nightly_learning(
        store=sqlite_store, index=Refusing(index.inner), refresh_tickets=False, return_state=True
    )
    assert state.is_failed()  # alerting on run states hears it
    assert "failed 1" in state.message
    error = state.result(raise_on_failure=False)
    assert isinstance(error, RunFailed)
    report = error.report
    assert [(o.case_id, "disk full" in o.reason) for o in report.failed] == [("sim:9", True)]
    assert _runs(sqlite_store)[-1].status == "failed"
    assert _runs(sqlite_store)[-1].report["counts"]["failed"] == 1
    with pytest.raises(RunFailed, match="failed 1"):  # called plainly, it raises with the report
        nightly_learning(store=sqlite_store, index=Refusing(index.inner), refresh_tickets=False)
    healed = nightly_learning(store=sqlite_store, index=index, refresh_tickets=False)
    assert [o.case_id for o in healed.reindexed] == ["sim:9"]
    assert _runs(sqlite_store)[-1].status == "completed"
